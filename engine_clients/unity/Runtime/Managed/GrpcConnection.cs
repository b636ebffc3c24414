// gRPC over HTTP/2 (RFC 9113) in C#, for where the native core cannot load (Android, Quest
// standalone): one connection by prior knowledge (h2c) over System.Net.Sockets, or TLS through
// SslStream with ALPN "h2"; a reader thread takes every frame as it comes (flow control, HPACK,
// status from trailers or trailers-only); callers write whole frames under a lock. Engine-free.
// Written after the native core's grpc_client.cpp; not supported: compression, proxies.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;

namespace ArtEm
{
    /// <summary>How the managed client reaches a server: a bearer token, TLS, timeouts.</summary>
    public sealed class GrpcOptions
    {
        /// <summary>
        /// Sent on every call as <c>authorization: Bearer &lt;token&gt;</c> (for a server started
        /// with --token-file).
        /// </summary>
        public string Token;

        /// <summary>TLS (SslStream, ALPN "h2"); off: plain HTTP/2 by prior knowledge.</summary>
        public bool Tls;

        /// <summary>
        /// The name checked against the server's certificate; empty: the address's host.
        /// </summary>
        public string ServerName;

        /// <summary>
        /// Certificate check; null: the platform's validation. See <see cref="TrustingCaFile"/>.
        /// Either way the certificate must also name the server (<see cref="ServerName"/>).
        /// </summary>
        public RemoteCertificateValidationCallback ValidateCertificate;

        /// <summary>
        /// A certificate check for a server whose certificate the CA in PEM file <c>pemFile</c>
        /// signed (or that is that certificate, self-signed). Throws ArgumentException naming a
        /// file that cannot be read or holds no certificate.
        /// </summary>
        public static RemoteCertificateValidationCallback TrustingCaFile(string pemFile)
        {
            X509Certificate2 ca;
            try
            {
                string pem = File.ReadAllText(pemFile);
                const string begin = "-----BEGIN CERTIFICATE-----";
                const string end = "-----END CERTIFICATE-----";
                int from = pem.IndexOf(begin, StringComparison.Ordinal);
                int to = from < 0 ? -1 : pem.IndexOf(end, from, StringComparison.Ordinal);
                if (to < 0) throw new FormatException("no PEM certificate in it");
                from += begin.Length;
                ca = new X509Certificate2(Convert.FromBase64String(pem.Substring(from, to - from)));
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException ||
                                      e is FormatException || e is CryptographicException)
            {
                throw new ArgumentException($"TLS CA file {pemFile}: {e.Message}", nameof(pemFile),
                                            e);
            }
            return (sender, certificate, chain, errors) =>
            {
                if (certificate == null) return false;  // the name is checked by the connection
                var server = new X509Certificate2(certificate);
                if (server.Thumbprint == ca.Thumbprint) return true;
                var check = new X509Chain();
                check.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                check.ChainPolicy.VerificationFlags =
                    X509VerificationFlags.AllowUnknownCertificateAuthority;
                check.ChainPolicy.ExtraStore.Add(ca);
                if (!check.Build(server)) return false;
                X509ChainElementCollection links = check.ChainElements;
                return links[links.Count - 1].Certificate.Thumbprint == ca.Thumbprint;
            };
        }

        public int ConnectTimeoutMs = 20000;

        /// <summary>
        /// With a call open, a server silent this long since the last thing either side sent gets
        /// one HTTP/2 PING; unanswered for <see cref="PingTimeoutMs"/>, the connection is taken for
        /// dead (14). A host that vanished without closing the connection (a headset's Wi-Fi lost)
        /// is noticed in seconds, not when TCP gives up. One ping per silence: gRPC servers count
        /// pings that come without data in between against the client. 0: never.
        /// </summary>
        public int PingAfterMs = 5000;

        public int PingTimeoutMs = 10000;
    }

    /// <summary>One call on a connection: what the reader thread has received for it.</summary>
    internal sealed class GrpcCall
    {
        internal int Id;
        internal long SendWindow;
        internal bool Ended, GotHeaders;
        internal int Code;
        internal string Message = "";
        internal readonly Queue<byte[]> Messages = new Queue<byte[]>();
        // The message being received (the reader thread's alone): its prefix, then its bytes.
        internal readonly byte[] Prefix = new byte[5];
        internal int PrefixHave, Have;
        internal byte[] Receiving;
        internal long Unacked;
    }

    internal sealed class GrpcConnection : IDisposable
    {
        // HTTP/2 frame types, flags, settings and error codes.
        const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, PushPromise = 5, Ping = 6,
                   GoAway = 7, WindowUpdate = 8, Continuation = 9;
        const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4, Padded = 0x8, PriorityFlag = 0x20;
        const int MaxWindow = 0x7fffffff;
        const int OurMaxFrame = 1 << 22;     // 4 MiB DATA frames from the server
        const int ReplenishAt = 1 << 24;     // window given back every 16 MiB read
        static readonly byte[] Preface =
            Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

        public readonly string Address;
        readonly string authority, scheme;
        readonly Socket socket;
        readonly Stream stream;
        readonly Stream reading;  // buffered view of `stream` for the reader thread
        readonly GrpcOptions options;
        readonly object writeGate = new object();  // whole frames at a time
        readonly object gate = new object();       // everything below; pulsed on every change
        readonly Dictionary<int, GrpcCall> calls = new Dictionary<int, GrpcCall>();
        int nextId = 1;
        long sendWindow = 65535;
        int peerInitialWindow = 65535, peerMaxFrame = 16384;
        long unacked;
        bool dead, goingAway;
        readonly HpackDecoder decoder = new HpackDecoder();
        readonly Thread reader;
        Timer watchdog;
        // Liveness (under `gate`): when the server last sent a frame other than a ping's ack, when
        // we last sent DATA, and when our unanswered ping went out (MinValue: none out).
        DateTime serverSpoke = DateTime.UtcNow, weSpoke = DateTime.UtcNow;
        DateTime pingOut = DateTime.MinValue;
        bool pingedThisSilence;

        GrpcConnection(string address, string authority, Socket socket, Stream stream,
                       GrpcOptions options)
        {
            Address = address;
            this.authority = authority;
            scheme = options.Tls ? "https" : "http";
            this.socket = socket;
            this.stream = stream;
            this.options = options;
            reading = new BufferedStream(stream, 1 << 16);
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "artem-grpc-reader" };
        }

        /// <summary>
        /// Connects (TLS when asked) and sends the HTTP/2 preface. Throws ArtemException (14).
        /// </summary>
        public static GrpcConnection Open(string address, GrpcOptions options)
        {
            string host, authority;
            int port;
            Parse(address, out host, out port, out authority);
            Socket socket = Dial(address, host, port, options.ConnectTimeoutMs);
            Stream stream = new NetworkStream(socket, true);
            try
            {
                if (options.Tls) stream = Secure(address, stream, options, host);
                var c = new GrpcConnection(address, authority, socket, stream, options);
                var settings = new byte[18];
                PutSetting(settings, 0, 2, 0);                    // ENABLE_PUSH off
                PutSetting(settings, 6, 4, MaxWindow);            // INITIAL_WINDOW_SIZE
                PutSetting(settings, 12, 5, OurMaxFrame);         // MAX_FRAME_SIZE
                var increment = new byte[4];
                Put32(increment, 0, MaxWindow - 65535);
                lock (c.writeGate)
                {
                    stream.Write(Preface, 0, Preface.Length);
                    c.WriteFrame(Settings, 0, 0, settings, 0, settings.Length);
                    c.WriteFrame(WindowUpdate, 0, 0, increment, 0, 4);
                    stream.Flush();
                }
                c.reader.Start();
                lock (c.gate)
                    if (options.PingAfterMs > 0 && !c.dead)
                        c.watchdog = new Timer(_ => c.Watch(), null, 1000, 1000);
                return c;
            }
            catch (IOException e)
            {
                stream.Dispose();
                throw new ArtemException(14, $"cannot talk to {address}: {e.Message}");
            }
            catch (ArtemException)
            {
                stream.Dispose();
                throw;
            }
        }

        /// <summary>
        /// host:port, [v6]:port, with gRPC's optional dns:///, ipv4: or ipv6: scheme.
        /// </summary>
        static void Parse(string address, out string host, out int port, out string authority)
        {
            string target = address ?? "";
            foreach (string s in new[] { "dns:///", "ipv4:", "ipv6:" })
                if (target.StartsWith(s, StringComparison.Ordinal))
                    target = target.Substring(s.Length);
            authority = target;
            int colon = target.LastIndexOf(':');
            if (target.StartsWith("unix:", StringComparison.Ordinal) || colon <= 0 ||
                !int.TryParse(target.Substring(colon + 1), out port) || port <= 0 || port > 65535)
                throw new ArtemException(3, $"address \"{address}\": expected host:port (the " +
                                            "managed client has no unix: sockets)");
            host = target.Substring(0, colon);
            if (host.Length >= 2 && host[0] == '[' && host[host.Length - 1] == ']')
                host = host.Substring(1, host.Length - 2);
        }

        static Socket Dial(string address, string host, int port, int timeoutMs)
        {
            IPAddress[] found;
            try
            {
                found = IPAddress.TryParse(host, out IPAddress ip) ? new[] { ip }
                                                                   : Dns.GetHostAddresses(host);
            }
            catch (SocketException e)
            {
                throw new ArtemException(14,
                    $"cannot resolve {host} (from {address}): {e.Message}");
            }
            string why = "no address";
            foreach (IPAddress ip in found)
            {
                var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    IAsyncResult pending = s.BeginConnect(ip, port, null, null);
                    if (!pending.AsyncWaitHandle.WaitOne(timeoutMs))
                    {
                        why = $"timed out after {timeoutMs} ms";
                        s.Close();
                        continue;
                    }
                    s.EndConnect(pending);
                    s.NoDelay = true;
                    return s;
                }
                catch (SocketException e)
                {
                    why = e.Message;
                    s.Close();
                }
            }
            throw new ArtemException(14, $"cannot connect to {address}: {why}");
        }

        // ALPN is in the .NET Standard 2.1 API (Unity's default API level), not in .NET Framework's
        // (NET_4_6), where TLS is refused: gRPC servers close connections that did not agree h2.
        static Stream Secure(string address, Stream plain, GrpcOptions options, string host)
        {
#if NET_4_6
            throw new ArtemException(14, $"TLS with {address}: needs ALPN, which the .NET " +
                                         "Framework API compatibility level lacks (use .NET " +
                                         "Standard 2.1)");
#else
            string name = string.IsNullOrEmpty(options.ServerName) ? host : options.ServerName;
            RemoteCertificateValidationCallback check = options.ValidateCertificate ??
                ((sender, certificate, chain, errors) => errors == SslPolicyErrors.None);
            // The name is checked here too: Mono leaves it unchecked when the chain has errors.
            var ssl = new SslStream(plain, false, (sender, certificate, chain, errors) =>
                certificate != null && Names(new X509Certificate2(certificate), name) &&
                check(sender, certificate, chain, errors));
            var settings = new SslClientAuthenticationOptions
            {
                TargetHost = name,
                ApplicationProtocols =
                    new List<SslApplicationProtocol> { SslApplicationProtocol.Http2 },
                EnabledSslProtocols = SslProtocols.Tls12,
            };
            try
            {
                var handshake = ssl.AuthenticateAsClientAsync(settings, CancellationToken.None);
                if (!handshake.Wait(options.ConnectTimeoutMs))
                    throw new ArtemException(14,
                        $"TLS with {address}: no handshake within {options.ConnectTimeoutMs} ms");
            }
            catch (AggregateException e)
            {
                ssl.Dispose();
                throw new ArtemException(14,
                    $"TLS with {address} failed: {e.GetBaseException().Message}");
            }
            bool h2;
            try
            {
                h2 = ssl.NegotiatedApplicationProtocol == SslApplicationProtocol.Http2;
            }
            catch (PlatformNotSupportedException)
            {
                h2 = false;
            }
            if (!h2)
            {
                ssl.Dispose();
                throw new ArtemException(14,
                    $"TLS with {address}: HTTP/2 was not agreed (ALPN \"h2\"); this " +
                    "runtime's TLS may not support ALPN");
            }
            return ssl;
#endif
        }

        // Whether `certificate` is for `host`: its subject alternative names (DNS, with a leading
        // "*." for one label, or IP addresses), or its common name when it has none.
        static bool Names(X509Certificate2 certificate, string host)
        {
            IPAddress ip;
            bool isIp = IPAddress.TryParse(host, out ip);
            foreach (X509Extension e in certificate.Extensions)
            {
                if (e.Oid.Value != "2.5.29.17") continue;
                byte[] der = e.RawData;
                int at = 0, end;
                if (!Der(der, ref at, 0x30, out end)) return false;
                while (at < end)
                {
                    byte tag = der[at];
                    if (!Der(der, ref at, tag, out int next)) return false;
                    if (tag == 0x82 && !isIp)  // dNSName
                    {
                        string dns = Encoding.ASCII.GetString(der, at, next - at);
                        int dot = host.IndexOf('.');
                        bool wildcard = dns.StartsWith("*.", StringComparison.Ordinal) && dot > 0;
                        if (Same(dns, host) ||
                            wildcard && Same(dns.Substring(1), host.Substring(dot)))
                            return true;
                    }
                    else if (tag == 0x87 && isIp)  // iPAddress
                    {
                        byte[] want = ip.GetAddressBytes();
                        if (want.Length == next - at)
                        {
                            int i = 0;
                            while (i < want.Length && want[i] == der[at + i]) i++;
                            if (i == want.Length) return true;
                        }
                    }
                    at = next;
                }
                return false;
            }
            return Same(certificate.GetNameInfo(X509NameType.SimpleName, false), host);
        }

        static bool Same(string a, string b) =>
            string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

        // A DER element with tag `tag` at `at`: moves `at` to its content, `end` past it.
        static bool Der(byte[] der, ref int at, byte tag, out int end)
        {
            end = 0;
            if (at + 2 > der.Length || der[at] != tag) return false;
            int length = der[at + 1];
            at += 2;
            if (length >= 0x80)
            {
                int bytes = length & 0x7f;
                if (bytes < 1 || bytes > 3 || at + bytes > der.Length) return false;
                length = 0;
                for (int i = 0; i < bytes; i++) length = length << 8 | der[at++];
            }
            end = at + length;
            return end <= der.Length;
        }

        public bool Accepting
        {
            get { lock (gate) return !dead && !goingAway; }
        }

        /// <summary>
        /// Starts a call to <c>path</c>; <c>timeout</c> is a grpc-timeout value or null.
        /// </summary>
        public GrpcCall Start(string path, string timeout)
        {
            var headers = new List<KeyValuePair<string, string>>
            {
                new KeyValuePair<string, string>(":method", "POST"),
                new KeyValuePair<string, string>(":scheme", scheme),
                new KeyValuePair<string, string>(":path", path),
                new KeyValuePair<string, string>(":authority", authority),
                new KeyValuePair<string, string>("content-type", "application/grpc"),
                new KeyValuePair<string, string>("te", "trailers"),
                new KeyValuePair<string, string>("user-agent", "artem-managed/1"),
            };
            if (timeout != null)
                headers.Add(new KeyValuePair<string, string>("grpc-timeout", timeout));
            if (!string.IsNullOrEmpty(options.Token))
                headers.Add(new KeyValuePair<string, string>("authorization",
                                                             "Bearer " + options.Token));
            byte[] block = HpackEncoder.Encode(headers);
            var call = new GrpcCall();
            lock (writeGate)  // stream ids must go out in increasing order
            {
                lock (gate)
                {
                    if (dead || goingAway)
                        throw new ArtemException(14, $"the connection to {Address} has ended");
                    call.Id = nextId;
                    nextId += 2;
                    call.SendWindow = peerInitialWindow;
                    calls[call.Id] = call;
                }
                if (!WriteFrame(Headers, EndHeaders, call.Id, block, 0, block.Length))
                    Died("writing failed");
            }
            return call;
        }

        /// <summary>
        /// Sends one gRPC message (<c>message</c> already carries its 5-byte prefix), waiting on
        /// the flow-control windows. False when the call or the connection has ended.
        /// </summary>
        public bool Send(GrpcCall call, byte[] message, bool endStream)
        {
            int sent = 0;
            while (sent < message.Length)
            {
                int budget, maxFrame;
                lock (gate)
                {
                    while (!call.Ended && !dead && (sendWindow <= 0 || call.SendWindow <= 0))
                        Monitor.Wait(gate);
                    if (call.Ended || dead) return false;
                    budget = (int)Math.Min(Math.Min(sendWindow, call.SendWindow),
                        message.Length - sent);
                    sendWindow -= budget;
                    call.SendWindow -= budget;
                    maxFrame = peerMaxFrame;
                }
                lock (writeGate)
                {
                    int end = sent + budget;
                    do
                    {
                        int n = Math.Min(end - sent, maxFrame);
                        byte flags = endStream && sent + n == message.Length ? EndStream : (byte)0;
                        if (!WriteFrame(Data, flags, call.Id, message, sent, n))
                        {
                            Died("writing failed");
                            return false;
                        }
                        sent += n;
                    } while (sent < end);
                }
                lock (gate)
                {
                    weSpoke = DateTime.UtcNow;
                    pingedThisSilence = false;
                }
            }
            return true;
        }

        /// <summary>Ends the call's request side (no more messages).</summary>
        public void SendEnd(GrpcCall call)
        {
            lock (gate)
                if (call.Ended || dead) return;
            lock (writeGate) WriteFrame(Data, EndStream, call.Id, null, 0, 0);
        }

        /// <summary>Cancels the call (RST_STREAM CANCEL) unless it has ended.</summary>
        public void Reset(GrpcCall call)
        {
            lock (gate)
            {
                if (call.Ended) return;
                End(call, 1, "cancelled");
            }
            var code = new byte[4];
            Put32(code, 0, 8);
            lock (writeGate) WriteFrame(RstStream, 0, call.Id, code, 0, 4);
        }

        /// <summary>
        /// The call's next message within <c>timeoutMs</c> (negative: no limit). Null when none
        /// came in time or the call has ended and every message has been read (see
        /// <see cref="Ended"/>).
        /// </summary>
        public byte[] Read(GrpcCall call, int timeoutMs)
        {
            DateTime until = timeoutMs < 0 ? DateTime.MaxValue
                : DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (gate)
            {
                while (call.Messages.Count == 0 && !call.Ended)
                {
                    TimeSpan left = until - DateTime.UtcNow;
                    if (timeoutMs >= 0 && left <= TimeSpan.Zero) return null;
                    if (timeoutMs < 0) Monitor.Wait(gate);
                    else Monitor.Wait(gate, left);
                }
                return call.Messages.Count > 0 ? call.Messages.Dequeue() : null;
            }
        }

        /// <summary>
        /// Whether the call has ended with every message read; its status is then final.
        /// </summary>
        public bool Ended(GrpcCall call)
        {
            lock (gate) return call.Ended && call.Messages.Count == 0;
        }

        /// <summary>
        /// Waits until the call has ended; false when <c>timeoutMs</c> passed first.
        /// </summary>
        public bool WaitEnded(GrpcCall call, int timeoutMs)
        {
            DateTime until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (gate)
            {
                while (!call.Ended)
                {
                    TimeSpan left = until - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return false;
                    Monitor.Wait(gate, left);
                }
                return true;
            }
        }

        public void Dispose()
        {
            Died("closed by the client");
            try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch
                (ObjectDisposedException) { }
            stream.Dispose();
        }

        // mutex `gate` held
        void End(GrpcCall call, int code, string message)
        {
            if (call.Ended) return;
            call.Ended = true;
            call.Code = code;
            call.Message = message;
            calls.Remove(call.Id);
            Monitor.PulseAll(gate);
        }

        // Once a second: a ping into a silence with a call open, death when it goes unanswered.
        void Watch()
        {
            DateTime now = DateTime.UtcNow;
            bool sendPing = false;
            lock (gate)
            {
                if (dead) return;
                if (pingOut != DateTime.MinValue)
                {
                    if ((now - pingOut).TotalMilliseconds < options.PingTimeoutMs) return;
                }
                else
                {
                    DateTime last = serverSpoke > weSpoke ? serverSpoke : weSpoke;
                    if (calls.Count == 0 || pingedThisSilence ||
                        (now - last).TotalMilliseconds < options.PingAfterMs)
                        return;
                    pingOut = now;
                    pingedThisSilence = true;
                    sendPing = true;
                }
            }
            if (sendPing)
            {
                var payload = new byte[8];
                Put32(payload, 4, Environment.TickCount);
                Control(Ping, 0, 0, payload, 8);
                return;
            }
            Died($"the server did not answer a ping within {options.PingTimeoutMs} ms");
        }

        void Died(string why)
        {
            lock (gate)
            {
                if (dead) return;
                dead = true;
                watchdog?.Dispose();
                string message = $"the connection to {Address} ended: {why}";
                foreach (GrpcCall c in new List<GrpcCall>(calls.Values)) End(c, 14, message);
                Monitor.PulseAll(gate);
            }
        }

        // `writeGate` held. False on a broken connection.
        bool WriteFrame(byte type, byte flags, int streamId, byte[] payload, int offset, int count)
        {
            var header = new byte[9];
            header[0] = (byte)(count >> 16);
            header[1] = (byte)(count >> 8);
            header[2] = (byte)count;
            header[3] = type;
            header[4] = flags;
            Put32(header, 5, streamId & MaxWindow);
            try
            {
                if (count <= 4096)  // small frames in one write
                {
                    var whole = new byte[9 + count];
                    Buffer.BlockCopy(header, 0, whole, 0, 9);
                    if (count > 0) Buffer.BlockCopy(payload, offset, whole, 9, count);
                    stream.Write(whole, 0, whole.Length);
                }
                else
                {
                    stream.Write(header, 0, 9);
                    stream.Write(payload, offset, count);
                }
                stream.Flush();
                return true;
            }
            catch (Exception e) when (e is IOException || e is ObjectDisposedException
                || e is NotSupportedException)
            {
                return false;
            }
        }

        void Control(byte type, byte flags, int streamId, byte[] payload, int count)
        {
            lock (writeGate) WriteFrame(type, flags, streamId, payload, 0, count);
        }

        void ReadLoop()
        {
            string why = "the server closed the connection";
            var h = new byte[9];
            try
            {
                while (ReadExact(h, 0, 9))
                {
                    int length = h[0] << 16 | h[1] << 8 | h[2];
                    if (length > OurMaxFrame)
                    {
                        why = "the server sent a frame larger than allowed";
                        break;
                    }
                    if (!OnFrame(h[3], h[4], Get32(h, 5) & MaxWindow, length))
                    {
                        why = "the server broke the HTTP/2 protocol";
                        break;
                    }
                }
            }
            catch (ObjectDisposedException) { why = "closed by the client"; }
            catch (Exception e)  // IOException, or the TLS layer's own
            {
                why = e.GetBaseException().Message;
            }
            Died(why);
        }

        bool ReadExact(byte[] into, int offset, int n)
        {
            while (n > 0)
            {
                int got = reading.Read(into, offset, n);
                if (got <= 0) return false;
                offset += got;
                n -= got;
            }
            return true;
        }

        bool OnFrame(byte type, byte flags, int streamId, int length)
        {
            if (type != Ping || (flags & Ack) == 0)
            {
                lock (gate)
                {
                    serverSpoke = DateTime.UtcNow;
                    pingedThisSilence = false;
                }
            }
            if (type == Data) return OnData(flags, streamId, length);
            var p = new byte[length];
            if (!ReadExact(p, 0, length)) return false;
            switch (type)
            {
                case Headers:
                {
                    int from = 0, to = length;
                    if ((flags & Padded) != 0)
                    {
                        if (length == 0 || p[0] >= length) return false;
                        to -= p[0];
                        from = 1;
                    }
                    if ((flags & PriorityFlag) != 0) from += 5;
                    if (from > to) return false;
                    block = new MemoryStream();
                    block.Write(p, from, to - from);
                    blockStream = streamId;
                    blockEndStream = (flags & EndStream) != 0;
                    return (flags & EndHeaders) == 0 || OnHeaderBlock();
                }
                case Continuation:
                    if (block == null || streamId != blockStream) return false;
                    block.Write(p, 0, length);
                    return (flags & EndHeaders) == 0 || OnHeaderBlock();
                case RstStream:
                {
                    if (length != 4) return false;
                    int code = Get32(p, 0);
                    lock (gate)
                    {
                        if (calls.TryGetValue(streamId, out GrpcCall c))
                            End(c, code == 7 ? 14 : code == 8 ? 1 : 13,
                                $"the server reset the stream (HTTP/2 error {code})");
                    }
                    return true;
                }
                case Settings:
                {
                    if ((flags & Ack) != 0) return true;
                    if (length % 6 != 0) return false;
                    lock (gate)
                    {
                        for (int i = 0; i < length; i += 6)
                        {
                            int id = p[i] << 8 | p[i + 1];
                            int value = Get32(p, i + 2);
                            // INITIAL_WINDOW_SIZE: every open stream's window moves by the
                            // difference
                            if (id == 4)
                            {
                                if (value < 0) return false;
                                foreach (GrpcCall c in calls.Values) c.SendWindow += (long)value -
                                    peerInitialWindow;
                                peerInitialWindow = value;
                            }
                            else if (id == 5)
                            {
                                if (value < 16384 || value > 16777215) return false;
                                peerMaxFrame = value;
                            }
                        }
                        Monitor.PulseAll(gate);
                    }
                    Control(Settings, Ack, 0, null, 0);
                    return true;
                }
                case Ping:
                    if (length != 8) return false;
                    if ((flags & Ack) == 0) Control(Ping, Ack, 0, p, 8);
                    else lock (gate) pingOut = DateTime.MinValue;
                    return true;
                case GoAway:
                {
                    if (length < 8) return false;
                    int last = Get32(p, 0) & MaxWindow;
                    lock (gate)
                    {
                        goingAway = true;
                        foreach (GrpcCall c in new List<GrpcCall>(calls.Values))
                            if (c.Id > last) End(c, 14, $"the server at {Address} is going away");
                    }
                    return true;
                }
                case WindowUpdate:
                {
                    if (length != 4) return false;
                    int increment = Get32(p, 0) & MaxWindow;
                    lock (gate)
                    {
                        if (streamId == 0) sendWindow += increment;
                        else if (calls.TryGetValue(streamId, out GrpcCall c))
                            c.SendWindow += increment;
                        Monitor.PulseAll(gate);
                    }
                    return true;
                }
                case PushPromise:  // disabled in our settings
                    return false;
                default:  // PRIORITY and unknown types
                    return true;
            }
        }

        MemoryStream block;  // a header block across CONTINUATION frames (the reader's own)
        int blockStream;
        bool blockEndStream;

        bool OnData(byte flags, int streamId, int length)
        {
            int pad = 0, left = length;
            var one = new byte[1];
            if ((flags & Padded) != 0)
            {
                if (length == 0 || !ReadExact(one, 0, 1) || one[0] >= length) return false;
                pad = one[0];
                left = length - 1 - pad;
            }
            GrpcCall c;
            lock (gate) calls.TryGetValue(streamId, out c);
            while (left > 0)
            {
                if (c == null)  // a call already ended here: its bytes are read and dropped
                {
                    var sink = new byte[Math.Min(left, 1 << 16)];
                    if (!ReadExact(sink, 0, sink.Length)) return false;
                    left -= sink.Length;
                    continue;
                }
                if (c.PrefixHave < 5)
                {
                    int k = Math.Min(5 - c.PrefixHave, left);
                    if (!ReadExact(c.Prefix, c.PrefixHave, k)) return false;
                    c.PrefixHave += k;
                    left -= k;
                    if (c.PrefixHave < 5) break;
                    if (c.Prefix[0] != 0) return false;  // compressed: we never ask for compression
                    int need = Get32(c.Prefix, 1);
                    if (need < 0) return false;
                    c.Receiving = new byte[need];
                    c.Have = 0;
                }
                int n = Math.Min(c.Receiving.Length - c.Have, left);
                if (n > 0 && !ReadExact(c.Receiving, c.Have, n)) return false;
                c.Have += n;
                left -= n;
                if (c.Have == c.Receiving.Length)
                {
                    lock (gate)
                    {
                        c.Messages.Enqueue(c.Receiving);
                        Monitor.PulseAll(gate);
                    }
                    c.Receiving = null;
                    c.PrefixHave = 0;
                }
            }
            if (pad > 0 && !ReadExact(new byte[pad], 0, pad)) return false;
            // Give the windows back once a good part of them has been read.
            long giveConnection = 0, giveStream = 0;
            lock (gate)
            {
                unacked += length;
                if (unacked >= ReplenishAt)
                {
                    giveConnection = unacked;
                    unacked = 0;
                }
                if (c != null && !c.Ended)
                {
                    c.Unacked += length;
                    if (c.Unacked >= ReplenishAt)
                    {
                        giveStream = c.Unacked;
                        c.Unacked = 0;
                    }
                }
            }
            var increment = new byte[4];
            if (giveConnection > 0)
            {
                Put32(increment, 0, (int)giveConnection);
                Control(WindowUpdate, 0, 0, increment, 4);
            }
            if (giveStream > 0)
            {
                Put32(increment, 0, (int)giveStream);
                Control(WindowUpdate, 0, streamId, increment, 4);
            }
            if ((flags & EndStream) != 0 && c != null)  // the end without trailers: no status
                lock (gate) End(c, 13, "the server ended the stream without a status");
            return true;
        }

        bool OnHeaderBlock()
        {
            var headers = new List<KeyValuePair<string, string>>();
            byte[] bytes = block.ToArray();
            block = null;
            if (!decoder.Decode(bytes, bytes.Length, headers)) return false;
            lock (gate)
            {
                if (!calls.TryGetValue(blockStream, out GrpcCall c)) return true;
                string httpStatus = null, grpcStatus = null, grpcMessage = "";
                foreach (KeyValuePair<string, string> h in headers)
                {
                    if (h.Key == ":status") httpStatus = h.Value;
                    else if (h.Key == "grpc-status") grpcStatus = h.Value;
                    else if (h.Key == "grpc-message") grpcMessage = Uri.UnescapeDataString(h.Value);
                }
                bool first = !c.GotHeaders;
                c.GotHeaders = true;
                // not a gRPC server's answer
                if (first && httpStatus != null && httpStatus != "200")
                {
                    End(c, httpStatus == "503" ? 14 : httpStatus == "404" ? 12 : 2,
                        $"HTTP status {httpStatus} from {Address}");
                    return true;
                }
                if (!blockEndStream) return true;
                if (grpcStatus == null)
                    End(c, 2, "the server ended the stream without grpc-status");
                else End(c, int.TryParse(grpcStatus, out int code) ? code : 2, grpcMessage);
            }
            return true;
        }

        static void PutSetting(byte[] b, int at, int id, int value)
        {
            b[at] = (byte)(id >> 8);
            b[at + 1] = (byte)id;
            Put32(b, at + 2, value);
        }

        static void Put32(byte[] b, int at, int v)
        {
            b[at] = (byte)(v >> 24);
            b[at + 1] = (byte)(v >> 16);
            b[at + 2] = (byte)(v >> 8);
            b[at + 3] = (byte)v;
        }

        static int Get32(byte[] b, int at) => b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at
            + 3];
    }
}
