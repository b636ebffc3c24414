// The Stylizer service through the managed gRPC client: ListStyles, and the bidirectional
// Stylize stream carrying JPEG views (the contract's carrier for a network). For platforms where
// the native core cannot load (Android: a Quest standalone); engine-free: JPEG coding is the
// caller's (Unity: ImageConversion.EncodeArrayToJPG, Texture2D.LoadImage).
using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace ArtEm
{
    /// <summary>
    /// A connection to one server (made on the first call, made again after it has gone).
    /// </summary>
    public sealed class ManagedStylizerClient : IDisposable
    {
        readonly object gate = new object();
        GrpcConnection connection;

        public string Address { get; }
        public GrpcOptions Options { get; }

        public ManagedStylizerClient(string address, GrpcOptions options = null)
        {
            Address = address;
            Options = options ?? new GrpcOptions();
        }

        /// <summary>
        /// Every style the server lists (all pages). Throws ArtemException (4 after
        /// <c>timeoutMs</c>).
        /// </summary>
        public StyleEntry[] ListStyles(int timeoutMs = 5000)
        {
            var styles = new List<StyleEntry>();
            string token = "";
            var clock = Stopwatch.StartNew();
            do
            {
                int left = Math.Max(1, timeoutMs - (int)clock.ElapsedMilliseconds);
                byte[] reply = Unary("/artem.v1.Stylizer/ListStyles",
                    StylizerWire.ListStylesRequest(token), left);
                styles.AddRange(StylizerWire.ParseListStyles(reply, out token));
            } while (token.Length > 0);
            return styles.ToArray();
        }

        /// <summary>
        /// Opens a Stylize stream in <c>style</c> and waits (up to <c>timeoutMs</c>) for the server
        /// to accept it. Throws ArtemException: the server's code and message for a refused style,
        /// 14 for an unreachable server, 4 when no answer came in time.
        /// </summary>
        public JpegStylizeStream Stylize(string style, float strength = 1f, int jpegQuality = 90,
                                         int timeoutMs = 20000)
        {
            GrpcConnection c = Connection();
            var stream = new JpegStylizeStream(c, c.Start("/artem.v1.Stylizer/Stylize", null),
                jpegQuality);
            try
            {
                stream.Configure(style, strength, timeoutMs);
                return stream;
            }
            catch
            {
                stream.Dispose();
                throw;
            }
        }

        byte[] Unary(string method, byte[] request, int timeoutMs)
        {
            GrpcConnection c = Connection();
            GrpcCall call = c.Start(method, timeoutMs + "m");
            c.Send(call, request, true);
            if (!c.WaitEnded(call, timeoutMs))
            {
                c.Reset(call);
                throw new ArtemException(4,
                    $"{method} on {Address}: no reply within {timeoutMs} ms");
            }
            byte[] reply = c.Read(call, 0);
            if (call.Code != 0) throw new ArtemException(call.Code, call.Message);
            if (reply == null)
                throw new ArtemException(13, $"{method} on {Address}: the server sent no reply");
            return reply;
        }

        GrpcConnection Connection()
        {
            lock (gate)
            {
                if (connection == null || !connection.Accepting)
                {
                    connection?.Dispose();
                    connection = GrpcConnection.Open(Address, Options);
                }
                return connection;
            }
        }

        public void Dispose()
        {
            lock (gate)
            {
                connection?.Dispose();
                connection = null;
            }
        }
    }

    /// <summary>
    /// One Stylize stream with JPEG views. <see cref="Send"/> from one thread (it waits only on
    /// HTTP/2 flow control), <see cref="TryReceive"/> and <see cref="SetStyle"/> from one other.
    /// </summary>
    public sealed class JpegStylizeStream : IDisposable
    {
        readonly GrpcConnection connection;
        readonly GrpcCall call;
        readonly int jpegQuality;
        readonly Queue<FrameReply> frames = new Queue<FrameReply>();
        readonly object sending = new object();

        /// <summary>The session's state after the last accepted config.</summary>
        public SessionReply Session { get; private set; }

        internal JpegStylizeStream(GrpcConnection connection, GrpcCall call, int jpegQuality)
        {
            this.connection = connection;
            this.call = call;
            this.jpegQuality = jpegQuality;
        }

        /// <summary>
        /// Sends frame <c>id</c>; throws ArtemException when the stream has ended.
        /// </summary>
        public void Send(ulong id, JpegView[] views, long captureTimeUs = 0)
        {
            byte[] message = StylizerWire.FrameRequest(id, captureTimeUs, views);
            lock (sending)
                if (!connection.Send(call, message, false)) throw Ended();
        }

        /// <summary>
        /// The next frame reply within <c>timeoutMs</c> (0 polls, negative waits): false when none
        /// came. A refused frame has Code != 0. Throws ArtemException when the stream has ended.
        /// </summary>
        public bool TryReceive(out FrameReply reply, int timeoutMs = 0)
        {
            reply = null;
            if (frames.Count == 0) Pump(timeoutMs, false);
            if (frames.Count == 0) return false;
            reply = frames.Dequeue();
            return true;
        }

        /// <summary>
        /// Switches style on the same stream; throws ArtemException when refused (the old style
        /// stays).
        /// </summary>
        public SessionReply SetStyle(string style, float strength = 1f, int timeoutMs = 20000) =>
            Configure(style, strength, timeoutMs);

        internal SessionReply Configure(string style, float strength, int timeoutMs)
        {
            lock (sending)
                if (!connection.Send(call, StylizerWire.ConfigRequest(style, strength,
                    jpegQuality), false))
                    throw Ended();
            SessionReply s = Pump(timeoutMs, true);
            if (s == null)
                throw new ArtemException(
                    4, $"{connection.Address}: no answer to the config within {timeoutMs} ms");
            if (s.Code != 0) throw new ArtemException(s.Code, s.Message);
            Session = s;
            return s;
        }

        // Reads replies until a frame reply (or, `untilSession`, a session reply) has come or the
        // time is up; frame replies are queued. Throws when the call has ended.
        SessionReply Pump(int timeoutMs, bool untilSession)
        {
            var clock = Stopwatch.StartNew();
            for (;;)
            {
                int left = timeoutMs < 0 ? -1 : Math.Max(0,
                    timeoutMs - (int)clock.ElapsedMilliseconds);
                byte[] m = connection.Read(call, left);
                if (m == null)
                {
                    if (connection.Ended(call)) throw Ended();
                    return null;
                }
                object reply = StylizerWire.ParseReply(m);
                if (reply is SessionReply session)
                {
                    if (untilSession) return session;
                    continue;  // a config's answer nobody waits for any more
                }
                frames.Enqueue((FrameReply)reply);
                if (!untilSession) return null;
            }
        }

        ArtemException Ended() =>
            new ArtemException(call.Code == 0 ? 14 : call.Code,
                               call.Message.Length > 0 ? call.Message
                                   : $"the stream to {connection.Address} ended");

        public void Dispose() => connection.Reset(call);
    }
}
