// A Stylize stream through the native client core: an engine writes each eye into a request slot
// and reads the stylized eye from the reply slot. The slots are a shared-memory region on the
// same host (no pixels in gRPC messages) or, inline, the client's own memory.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace ArtEm
{
    /// <summary>A refused request or a broken stream: the gRPC status code and the server's message.</summary>
    public sealed class ArtemException : Exception
    {
        public int Code { get; }

        public ArtemException(int code, string message) : base(message) { Code = code; }
    }

    /// <summary>
    /// One session: a stream in one style and a region of <c>slots</c> slots sized for <c>views</c>.
    /// One frame in flight per <see cref="Stylize"/> call; use it from one thread at a time.
    /// </summary>
    public sealed class ArtemSession : IStylizerSession
    {
        IntPtr handle;
        readonly ViewDesc[] views;

        public int SlotCount { get; }

        public Transport Transport { get; }

        /// <summary>
        /// Connects (with <c>options</c>' token and TLS, when given), registers the region (shared memory) and
        /// configures the stream. Throws ArtemException (16: the server refused the token; 14: unreachable,
        /// or TLS failed).
        /// </summary>
        public ArtemSession(string address, string style, float strength, ViewDesc[] views, int slots = 2,
                            Transport transport = Transport.SharedMemory, ConnectOptions options = null)
        {
            if (views == null || views.Length < 1 || views.Length > 2)
                throw new ArgumentException("views: expected 1 (mono) or 2 (left, right eye) views", nameof(views));
            if (slots < 1)
                throw new ArgumentOutOfRangeException(nameof(slots), slots, "expected 1..64 slots");
            var error = new StringBuilder(ArtemNative.ErrorLength);
            var native = ConnectOptions.ToNative(options);
            int code = ArtemNative.artem_open_ex(address, ref native, style, strength, views, (uint)views.Length,
                                                 (uint)slots, (int)transport, out handle, error, (UIntPtr)error.Capacity);
            if (code != 0) throw new ArtemException(code, error.ToString());
            this.views = (ViewDesc[])views.Clone();
            SlotCount = slots;
            Transport = transport;
        }

        /// <summary>Where view <c>view</c> of request slot <c>slot</c> lives: write (or read back) the frame there.</summary>
        public IntPtr RequestView(int slot, int view) => Pointer(ArtemNative.artem_request_view, slot, view);

        /// <summary>
        /// Where the server wrote view <c>view</c> of the reply to the frame sent from <c>slot</c>.
        /// Inline, the address may change from one reply to the next: ask after each reply.
        /// </summary>
        public IntPtr ReplyView(int slot, int view) => Pointer(ArtemNative.artem_reply_view, slot, view);

        /// <summary>Copies a view's pixels into request slot <c>slot</c>.</summary>
        public void WriteRequest(int slot, int view, byte[] pixels)
        {
            long n = ViewBytes(view);
            if (pixels == null || pixels.Length != n)
                throw new ArgumentException($"pixels: {pixels?.Length ?? 0} bytes, expected {n} for view {view}", nameof(pixels));
            Marshal.Copy(pixels, 0, RequestView(slot, view), pixels.Length);
        }

        /// <summary>Copies a view's stylized pixels out of reply slot <c>slot</c>.</summary>
        public byte[] ReadReply(int slot, int view)
        {
            var pixels = new byte[ViewBytes(view)];
            Marshal.Copy(ReplyView(slot, view), pixels, 0, pixels.Length);
            return pixels;
        }

        public long ViewBytes(int view)
        {
            if (view < 0 || view >= views.Length)
                throw new ArgumentOutOfRangeException(nameof(view), view, $"expected 0..{views.Length - 1}");
            return views[view].Bytes;
        }

        /// <summary>Sends frame <c>id</c> (its pixels already in request slot <c>slot</c>) and waits for its reply.</summary>
        public FrameInfo Stylize(ulong id, int slot)
        {
            var error = new StringBuilder(ArtemNative.ErrorLength);
            int code = ArtemNative.artem_stylize(Live(), id, (uint)slot, out FrameInfo info, error, (UIntPtr)error.Capacity);
            if (code != 0) throw new ArtemException(code, error.ToString());
            return info;
        }

        /// <summary>
        /// Sends frame <c>id</c> from request slot <c>slot</c> without waiting (a render thread's way);
        /// the slot is the server's until a reply for this frame or a later one is received.
        /// </summary>
        public void Send(ulong id, int slot)
        {
            var error = new StringBuilder(ArtemNative.ErrorLength);
            int code = ArtemNative.artem_send(Live(), id, (uint)slot, error, (UIntPtr)error.Capacity);
            if (code != 0) throw new ArtemException(code, error.ToString());
        }

        /// <summary>
        /// The next frame reply within <c>timeoutMs</c> (0 polls, negative waits): false when none came.
        /// <c>info.Code</c> is nonzero for a refused frame (<c>refusal</c> says why), which frees only its
        /// own slot; a reply with code 0 also frees the slots of every earlier frame.
        /// </summary>
        public bool TryReceive(out FrameInfo info, out string refusal, int timeoutMs = 0)
        {
            var error = new StringBuilder(ArtemNative.ErrorLength);
            int code = ArtemNative.artem_receive(Live(), timeoutMs, out info, error, (UIntPtr)error.Capacity);
            refusal = error.ToString();
            if (code == 4) return false;  // DEADLINE_EXCEEDED: nothing yet
            if (code != 0) throw new ArtemException(code, refusal);
            return true;
        }

        /// <summary>Switches the stream to another style and strength without reconnecting.</summary>
        public void SetStyle(string style, float strength = 1f)
        {
            var error = new StringBuilder(ArtemNative.ErrorLength);
            int code = ArtemNative.artem_set_style(Live(), style, strength, error, (UIntPtr)error.Capacity);
            if (code != 0) throw new ArtemException(code, error.ToString());
        }

        public void Dispose()
        {
            if (handle != IntPtr.Zero)
            {
                ArtemNative.artem_close(handle);
                handle = IntPtr.Zero;
            }
            GC.SuppressFinalize(this);
        }

        ~ArtemSession() { Dispose(); }

        IntPtr Live()
        {
            if (handle == IntPtr.Zero) throw new ObjectDisposedException(nameof(ArtemSession));
            return handle;
        }

        IntPtr Pointer(Func<IntPtr, uint, uint, IntPtr> get, int slot, int view)
        {
            IntPtr p = slot < 0 || view < 0 ? IntPtr.Zero : get(Live(), (uint)slot, (uint)view);
            if (p == IntPtr.Zero)
                throw new ArgumentOutOfRangeException(nameof(slot), $"slot {slot}, view {view}: expected slot < {SlotCount} and view < {views.Length}");
            return p;
        }
    }
}
