// The slot API of ArtemSession over the managed client, for where the native core cannot load
// (Android): eyes are read back into request slots in managed memory as before, a sender thread
// encodes the newest sent frame to JPEG (the engine's encoder, passed in) and streams it, and each
// reply's JPEG views are kept per slot for the engine to decode. Nothing here waits on the server
// but SetStyle (one round trip). Engine-free; tested under Mono against a server.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace ArtEm
{
    /// <summary>
    /// What StylizerLink streams through: the native core (ArtemSession) or the managed client.
    /// </summary>
    public interface IStylizerSession : IDisposable
    {
        Transport Transport { get; }
        IntPtr RequestView(int slot, int view);
        void Send(ulong id, int slot);
        bool TryReceive(out FrameInfo info, out string refusal, int timeoutMs = 0);
        void SetStyle(string style, float strength = 1f);
    }

    /// <summary>
    /// An eye's pixels as read back (<c>view</c> says their size, layout and colour space; bottom
    /// row first in Unity) to a JPEG file's bytes at <c>quality</c>. Called on a worker thread.
    /// </summary>
    public delegate byte[] JpegEncoder(byte[] pixels, ViewDesc view, int quality);

    public sealed class ManagedSession : IStylizerSession
    {
        readonly ManagedStylizerClient client;
        readonly JpegStylizeStream stream;
        readonly ViewDesc[] views;
        readonly byte[][][] requests;  // [slot][view], pinned: readbacks write through RequestView
        readonly GCHandle[] pins;
        readonly byte[][][] replies;   // [slot][view]: the JPEG views of the slot's last reply
        readonly JpegEncoder encode;
        readonly int quality;
        // The frames out, and the slot each was sent from.
        readonly Dictionary<ulong, int> slotOf = new Dictionary<ulong, int>();
        readonly object gate = new object();
        readonly Thread sender;
        bool pending, closed;
        ulong pendingId;
        int pendingSlot;
        uint droppedHere;            // frames replaced here before they were sent
        ArtemException failure;      // the sender's, reported by the next TryReceive

        public Transport Transport => Transport.Jpeg;
        public int SlotCount => requests.Length;

        /// <summary>
        /// Connects and configures the stream (JPEG views). Throws ArtemException.
        /// </summary>
        public ManagedSession(string address, string style, float strength, ViewDesc[] views,
                              int slots, JpegEncoder encode, GrpcOptions options = null,
                              int jpegQuality = 90)
        {
            if (views == null || views.Length < 1 || views.Length > 2)
                throw new ArgumentException(
                    "views: expected 1 (mono) or 2 (left, right eye) views", nameof(views));
            if (slots < 1 || slots > 64)
                throw new ArgumentOutOfRangeException(nameof(slots), slots, "expected 1..64 slots");
            this.encode = encode ?? throw new ArgumentNullException(nameof(encode));
            this.views = (ViewDesc[])views.Clone();
            quality = jpegQuality;
            client = new ManagedStylizerClient(address, options);
            try
            {
                stream = client.Stylize(style, strength, jpegQuality);
            }
            catch
            {
                client.Dispose();
                throw;
            }
            requests = new byte[slots][][];
            replies = new byte[slots][][];
            pins = new GCHandle[slots * views.Length];
            for (int s = 0; s < slots; s++)
            {
                requests[s] = new byte[views.Length][];
                replies[s] = new byte[views.Length][];
                for (int v = 0; v < views.Length; v++)
                {
                    requests[s][v] = new byte[views[v].Bytes];
                    pins[s * views.Length + v] = GCHandle.Alloc(requests[s][v],
                        GCHandleType.Pinned);
                }
            }
            sender = new Thread(SendLoop) { IsBackground = true, Name = "artem-managed-sender" };
            sender.Start();
        }

        /// <summary>
        /// Where view <c>view</c> of request slot <c>slot</c> lives (pinned managed memory).
        /// </summary>
        public IntPtr RequestView(int slot, int view) =>
            pins[Index(slot, view)].AddrOfPinnedObject();

        /// <summary>
        /// Hands frame <c>id</c> in request slot <c>slot</c> to the sender and returns at once. A
        /// frame not yet picked up is replaced by a newer one (latest frame wins; counted in the
        /// next reply's DroppedFrames); its slot comes back with the next reply, as the server's
        /// drops do.
        /// </summary>
        public void Send(ulong id, int slot)
        {
            Index(slot, 0);
            lock (gate)
            {
                if (failure != null) throw failure;
                if (pending) droppedHere++;  // the replaced frame stays out until a later reply
                slotOf[id] = slot;
                pending = true;
                pendingId = id;
                pendingSlot = slot;
                Monitor.PulseAll(gate);
            }
        }

        /// <summary>
        /// The next frame reply within <c>timeoutMs</c> (0 polls, negative waits): false when none
        /// came. <c>info.Slot</c> is the slot it was sent from; <see cref="ReplyJpeg"/> has its
        /// views.
        /// </summary>
        public bool TryReceive(out FrameInfo info, out string refusal, int timeoutMs = 0)
        {
            info = default(FrameInfo);
            refusal = "";
            lock (gate)
                if (failure != null) throw failure;
            if (!stream.TryReceive(out FrameReply r, timeoutMs)) return false;
            int slot;
            lock (gate)
            {
                if (!slotOf.TryGetValue(r.Id, out slot))
                    throw new ArtemException(13, $"a reply for frame {r.Id}, which is not out");
                var done = new List<ulong>();
                foreach (KeyValuePair<ulong, int> f in slotOf)
                    if (r.Code == 0 ? f.Key <= r.Id : f.Key == r.Id) done.Add(f.Key);
                foreach (ulong id in done) slotOf.Remove(id);
                info.DroppedFrames = r.DroppedFrames + (r.Code == 0 ? droppedHere : 0);
                if (r.Code == 0) droppedHere = 0;
            }
            info.Id = r.Id;
            info.Slot = (uint)slot;
            info.Code = r.Code;
            info.QueueMs = r.QueueMs;
            info.ConvertMs = r.ConvertMs;
            info.ModelMs = r.ModelMs;
            info.TransferMs = r.TransferMs;
            info.TotalMs = r.TotalMs;
            refusal = r.Message;
            if (r.Code == 0)
            {
                if (r.Jpegs.Length != views.Length)
                    throw new ArtemException(13,
                        $"frame {r.Id}: {r.Jpegs.Length} views back, expected {views.Length}");
                replies[slot] = r.Jpegs;
            }
            return true;
        }

        /// <summary>
        /// The JPEG of view <c>view</c> of the last reply to a frame sent from <c>slot</c>.
        /// </summary>
        public byte[] ReplyJpeg(int slot, int view)
        {
            Index(slot, view);
            return replies[slot][view] ?? throw new
                InvalidOperationException($"slot {slot} has had no reply");
        }

        /// <summary>
        /// Switches style on the same stream (one round trip); throws ArtemException when refused.
        /// </summary>
        public void SetStyle(string style, float strength = 1f) => stream.SetStyle(style, strength);

        public void Dispose()
        {
            lock (gate)
            {
                if (closed) return;
                closed = true;
                Monitor.PulseAll(gate);
            }
            stream.Dispose();
            client.Dispose();
            sender.Join();
            foreach (GCHandle pin in pins) pin.Free();
        }

        void SendLoop()
        {
            for (;;)
            {
                ulong id;
                int slot;
                lock (gate)
                {
                    while (!pending && !closed) Monitor.Wait(gate);
                    if (closed) return;
                    pending = false;
                    id = pendingId;
                    slot = pendingSlot;
                }
                try
                {
                    var jpegs = new JpegView[views.Length];
                    Parallel.For(0, views.Length, v => jpegs[v] = new JpegView
                    {
                        Width = views[v].Width,
                        Height = views[v].Height,
                        Format = views[v].Format,
                        Linear = views[v].Linear != 0,
                        Jpeg = encode(requests[slot][v], views[v], quality),
                    });
                    stream.Send(id, jpegs);
                }
                catch (Exception e)
                {
                    lock (gate)
                    {
                        if (closed) return;
                        failure = e as ArtemException ?? new ArtemException(13,
                            $"frame {id}: {e.GetBaseException().Message}");
                    }
                    return;
                }
            }
        }

        int Index(int slot, int view)
        {
            if (slot < 0 || slot >= requests.Length || view < 0 || view >= views.Length)
                throw new ArgumentOutOfRangeException(nameof(slot),
                    $"slot {slot}, view {view}: expected slot < {requests.Length} " +
                    $"and view < {views.Length}");
            return slot * views.Length + view;
        }
    }
}
