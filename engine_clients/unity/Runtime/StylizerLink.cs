// What ArtemStylizer does each frame, without the engine: connect in the background, hand out
// request slots for readbacks, send complete frames, take the newest reply (latest frame wins),
// keep the connection state and latency to show. Engine-free; tested under Mono against a server.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading.Tasks;

namespace ArtEm
{
    public enum LinkState
    {
        Connecting,  // the session is being opened on a worker thread
        Streaming,
        Failed,      // Message says why; make a new link to retry
    }

    /// <summary>
    /// One camera's stream. Every method but the constructor runs on one thread (Unity's main
    /// thread); none waits for the server except <see cref="SetStyle"/> (one round trip).
    /// </summary>
    public sealed class StylizerLink : IDisposable
    {
        readonly Task<IStylizerSession> opening;
        readonly Dictionary<ulong, long> sentAt = new Dictionary<ulong, long>();  // frame id: Stopwatch ticks
        IStylizerSession session;
        bool disposed;

        public string Address { get; }
        public StereoLayout Layout { get; }
        public bool Linear { get; }
        public Transport Transport { get; }
        public bool Managed { get; }  // the managed gRPC client (JPEG), not the native core
        public int SlotCount { get; }
        public string Style { get; private set; }
        public float Strength { get; private set; }

        public LinkState State { get; private set; } = LinkState.Connecting;
        public string Message { get; private set; } = "";  // why it failed, or the last refusal
        public FrameSlots Slots { get; private set; }
        public double RoundTripMs { get; private set; }    // smoothed: send to reply
        public double ServerMs { get; private set; }       // the server's total for the last reply
        public long FramesShown { get; private set; }
        public long FramesDropped { get; private set; }    // replaced unanswered by the server

        /// <summary>
        /// Opens the stream on a worker thread: through the native core, or, given a JPEG encoder,
        /// through the managed client with JPEG views (where the native core cannot load). <c>options</c>:
        /// the token and TLS settings (for the managed client when <c>managedOptions</c> is null).
        /// </summary>
        public StylizerLink(string address, string style, float strength, Transport transport, StereoLayout layout,
                            bool linear, int slots, JpegEncoder managedEncoder = null, GrpcOptions managedOptions = null,
                            ConnectOptions options = null)
        {
            Address = address;
            Style = style;
            Strength = strength;
            Managed = managedEncoder != null;
            Transport = Managed ? Transport.Jpeg : transport;
            Layout = layout;
            Linear = linear;
            SlotCount = slots;
            ViewDesc[] views = layout.Views(linear);
            if (Managed)
                opening = Task.Run(() => (IStylizerSession)new ManagedSession(
                    address, style, strength, views, slots, managedEncoder, managedOptions ?? options?.ToManaged()));
            else
                opening = Task.Run(() => (IStylizerSession)new ArtemSession(address, style, strength, views, slots,
                                                                            transport, options));
        }

        /// <summary>Picks up the finished connection attempt; call once a frame.</summary>
        public void Update()
        {
            if (State != LinkState.Connecting || !opening.IsCompleted) return;
            if (opening.Status == TaskStatus.RanToCompletion)
            {
                session = opening.Result;
                Slots = new FrameSlots(SlotCount);
                State = LinkState.Streaming;
                Message = "";
            }
            else
            {
                Fail(opening.Exception?.GetBaseException());
            }
        }

        /// <summary>
        /// A request slot to read this frame's eyes into, or -1: not streaming, or every slot busy
        /// (skip the frame).
        /// </summary>
        public int BeginFrame() => State == LinkState.Streaming ? Slots.BeginReadback(Layout.Eyes) : -1;

        /// <summary>Where eye <c>eye</c> of request slot <c>slot</c> is read back into.</summary>
        public IntPtr RequestView(int slot, int eye) => Live().RequestView(slot, eye);

        /// <summary>One eye's readback into <c>slot</c> is done; the frame goes out once all its eyes are.</summary>
        public void EyeRead(int slot)
        {
            if (State != LinkState.Streaming || !Slots.EyeRead(slot)) return;
            ulong id = Slots.Send(slot);
            try
            {
                sentAt[id] = Stopwatch.GetTimestamp();
                session.Send(id, slot);
            }
            catch (ArtemException e)
            {
                Slots.SendFailed(slot);
                sentAt.Remove(id);
                Fail(e);
            }
        }

        /// <summary>A readback failed or was abandoned: its slot is free again.</summary>
        public void ReadbackFailed(int slot)
        {
            if (State == LinkState.Streaming && Slots[slot] == SlotState.Reading) Slots.Abandon(slot);
        }

        /// <summary>
        /// Takes every reply that has come and returns the newest stylized one (older ones are
        /// superseded: latest frame wins); false when none came, and the last one stays on show.
        /// </summary>
        public bool TakeNewest(out FrameInfo newest)
        {
            newest = default(FrameInfo);
            bool any = false;
            if (State != LinkState.Streaming) return false;
            try
            {
                while (session.TryReceive(out FrameInfo info, out string refusal, timeoutMs: 0))
                {
                    Slots.Replied(info.Id, info.Code != 0);
                    if (info.Code != 0)
                    {
                        Message = $"frame {info.Id} refused ({info.Code}): {refusal}";
                        sentAt.Remove(info.Id);
                        continue;
                    }
                    FramesDropped += info.DroppedFrames;
                    ServerMs = info.TotalMs;
                    if (sentAt.TryGetValue(info.Id, out long sent))
                    {
                        double ms = (Stopwatch.GetTimestamp() - sent) * 1000.0 / Stopwatch.Frequency;
                        RoundTripMs = RoundTripMs == 0 ? ms : 0.9 * RoundTripMs + 0.1 * ms;
                    }
                    var done = new List<ulong>();
                    foreach (ulong id in sentAt.Keys)
                        if (id <= info.Id) done.Add(id);
                    foreach (ulong id in done) sentAt.Remove(id);
                    newest = info;
                    any = true;
                }
            }
            catch (ArtemException e)
            {
                Fail(e);
                return false;
            }
            if (any) FramesShown++;
            return any;
        }

        /// <summary>Where eye <c>eye</c> of the reply in <c>slot</c> is (valid until the slot is sent again).</summary>
        public IntPtr ReplyView(int slot, int eye) =>
            Live() is ArtemSession native ? native.ReplyView(slot, eye)
                                          : throw new InvalidOperationException("managed replies are JPEG: ReplyJpeg");

        /// <summary>The managed path's reply in <c>slot</c>: eye <c>eye</c> as JPEG bytes.</summary>
        public byte[] ReplyJpeg(int slot, int eye) =>
            Live() is ManagedSession managed ? managed.ReplyJpeg(slot, eye)
                                             : throw new InvalidOperationException("native replies are pixels: ReplyView");

        /// <summary>
        /// Switches style on the same stream. A refusal leaves the old style in force and says why in
        /// Message; Style is then the refused one all the same, so that it is not asked again every frame.
        /// </summary>
        public bool SetStyle(string style, float strength)
        {
            if (State != LinkState.Streaming) return false;
            try
            {
                session.SetStyle(style, strength);
                Style = style;
                Strength = strength;
                return true;
            }
            catch (ArtemException e) when (e.Code != 14)
            {
                Message = $"style {style}: {e.Message}";
                Style = style;  // not asked again every frame; the inspector shows the message
                Strength = strength;
                return false;
            }
            catch (ArtemException e)
            {
                Fail(e);
                return false;
            }
        }

        /// <summary>A line for a status display.</summary>
        public string Summary => State == LinkState.Streaming
            ? $"streaming {Layout} via {Transport}{(Managed ? " (managed client)" : "")}: round trip {RoundTripMs:F1} ms, server {ServerMs:F1} ms, " +
              $"{FramesShown} shown, {FramesDropped} dropped, {Slots.Skipped} skipped"
            : $"{State.ToString().ToLowerInvariant()} {Address}{(Message.Length > 0 ? ": " + Message : "")}";

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            if (session != null) session.Dispose();
            else opening.ContinueWith(t => { if (t.Status == TaskStatus.RanToCompletion) t.Result.Dispose(); });
            session = null;
            if (State == LinkState.Streaming) State = LinkState.Failed;
            Message = "closed";
        }

        IStylizerSession Live()
        {
            if (session == null)
                throw new InvalidOperationException($"the link to {Address} is {State}, not streaming");
            return session;
        }

        void Fail(Exception e)
        {
            State = LinkState.Failed;
            Message = e is ArtemException a ? $"{a.Message} (code {a.Code})" : e?.Message ?? "unknown error";
            session?.Dispose();
            session = null;
        }
    }
}
