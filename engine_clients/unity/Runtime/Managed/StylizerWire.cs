// The few messages of the wire contract (artem/v1/stylizer.proto) the managed client sends and
// reads, in protobuf wire format by hand: no protobuf library in the package. Field numbers and
// types are declared once, in ProtoFields; tests/test_unity_managed.py compares them with the
// .proto's descriptors, so a contract change that is not made here fails CI. Fields this client
// does not read are skipped by wire type, as protobuf does with unknown fields.
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Text;

namespace ArtEm
{
    /// <summary>
    /// A field's proto type as the .proto declares it ("optional float", "repeated artem.v1.View").
    /// </summary>
    [AttributeUsage(AttributeTargets.Field)]
    internal sealed class ProtoAttribute : Attribute
    {
        public readonly string Type;

        public ProtoAttribute(string type) { Type = type; }
    }

    /// <summary>
    /// Field numbers of artem.v1 messages this client uses; each class is the message of its name.
    /// </summary>
    internal static class ProtoFields
    {
        internal static class View
        {
            [Proto("int32")] public const int Width = 1;
            [Proto("int32")] public const int Height = 2;
            [Proto("artem.v1.PixelFormat")] public const int Format = 3;
            [Proto("artem.v1.ColorSpace")] public const int ColorSpace = 4;
            [Proto("bytes")] public const int Jpeg = 8;
        }

        internal static class Frame
        {
            [Proto("uint64")] public const int Id = 1;
            [Proto("int64")] public const int CaptureTimeUs = 2;
            [Proto("repeated artem.v1.View")] public const int Views = 3;
        }

        internal static class SessionConfig
        {
            [Proto("string")] public const int Style = 1;
            [Proto("optional float")] public const int Strength = 2;
            [Proto("optional uint32")] public const int JpegQuality = 11;
        }

        internal static class StylizeRequest
        {
            [Proto("artem.v1.SessionConfig")] public const int Config = 1;
            [Proto("artem.v1.Frame")] public const int Frame = 2;
        }

        internal static class Status
        {
            [Proto("int32")] public const int Code = 1;
            [Proto("string")] public const int Message = 2;
        }

        internal static class Timings
        {
            [Proto("float")] public const int QueueMs = 1;
            [Proto("float")] public const int ConvertMs = 2;
            [Proto("float")] public const int ModelMs = 3;
            [Proto("float")] public const int TotalMs = 4;
            [Proto("float")] public const int TransferMs = 5;
        }

        internal static class StylizedFrame
        {
            [Proto("uint64")] public const int Id = 1;
            [Proto("repeated artem.v1.View")] public const int Views = 3;
            [Proto("artem.v1.Timings")] public const int Timings = 4;
            [Proto("uint32")] public const int DroppedFrames = 5;
            [Proto("string")] public const int Style = 6;
        }

        internal static class SessionState
        {
            [Proto("string")] public const int Style = 1;
            [Proto("float")] public const int Strength = 2;
            [Proto("string")] public const int Kind = 3;
            [Proto("uint32")] public const int JpegQuality = 11;
        }

        internal static class StylizeReply
        {
            [Proto("artem.v1.StylizedFrame")] public const int Frame = 1;
            [Proto("artem.v1.SessionState")] public const int Session = 2;
            [Proto("artem.v1.Status")] public const int Error = 3;
        }

        internal static class ListStylesRequest
        {
            [Proto("string")] public const int PageToken = 2;
        }

        internal static class ListStylesReply
        {
            [Proto("repeated artem.v1.StyleInfo")] public const int Styles = 1;
            [Proto("string")] public const int NextPageToken = 2;
        }

        internal static class StyleInfo
        {
            [Proto("string")] public const int Id = 1;
            [Proto("string")] public const int Kind = 2;
            [Proto("string")] public const int DisplayName = 3;
            [Proto("bytes")] public const int ThumbnailPng = 4;
        }

        /// <summary>
        /// "artem.v1.View.row_stride 5 int32", one line a field, for the contract test.
        /// </summary>
        public static IEnumerable<string> Describe()
        {
            foreach (Type message in typeof(ProtoFields).GetNestedTypes(BindingFlags.NonPublic))
                foreach (FieldInfo f in message.GetFields(BindingFlags.Public |
                    BindingFlags.Static))
                    yield return
                        $"artem.v1.{message.Name}.{Snake(f.Name)} {f.GetRawConstantValue()} " +
                                 f.GetCustomAttribute<ProtoAttribute>().Type;
        }

        static string Snake(string name)
        {
            var s = new StringBuilder();
            foreach (char c in name)
            {
                if (char.IsUpper(c) && s.Length > 0) s.Append('_');
                s.Append(char.ToLowerInvariant(c));
            }
            return s.ToString();
        }
    }

    /// <summary>
    /// One JPEG view of a frame: its size, the layout the reply is decoded into, its colour space.
    /// </summary>
    public sealed class JpegView
    {
        public int Width, Height;
        public PixelFormat Format = PixelFormat.Rgba8;
        public bool Linear;
        public byte[] Jpeg;
    }

    /// <summary>A reply to a frame: the stylized views as JPEG, or a refusal (Code != 0).</summary>
    public sealed class FrameReply
    {
        public ulong Id;
        public int Code;         // 0, or the status code the server refused the frame with
        public string Message = "";
        public byte[][] Jpegs = new byte[0][];
        public uint DroppedFrames;
        public float QueueMs, ConvertMs, ModelMs, TotalMs, TransferMs;
        public string Style = "";
    }

    /// <summary>
    /// The configuration in force after a config request; Code != 0 when it was refused.
    /// </summary>
    public sealed class SessionReply
    {
        public string Style = "", Kind = "";
        public float Strength;
        public uint JpegQuality;
        public int Code;
        public string Message = "";
    }

    internal static class StylizerWire
    {
        const int Varint = 0, Fixed64 = 1, Len = 2, Fixed32 = 5;

        /// <summary>
        /// A StylizeRequest with a config, as a gRPC message (5-byte prefix first).
        /// </summary>
        public static byte[] ConfigRequest(string style, float strength, int jpegQuality)
        {
            var config = new List<byte>();
            PutString(config, ProtoFields.SessionConfig.Style, style);
            PutKey(config, ProtoFields.SessionConfig.Strength, Fixed32);
            // little-endian on every target Unity has
            config.AddRange(BitConverter.GetBytes(strength));
            if (jpegQuality > 0)
            {
                PutKey(config, ProtoFields.SessionConfig.JpegQuality, Varint);
                PutVarint(config, (ulong)jpegQuality);
            }
            var request = new List<byte>();
            PutBytes(request, ProtoFields.StylizeRequest.Config, config.ToArray(), 0, config.Count);
            return Framed(request);
        }

        /// <summary>
        /// A ListStylesRequest for the page after <c>pageToken</c>, as a gRPC message.
        /// </summary>
        public static byte[] ListStylesRequest(string pageToken)
        {
            var request = new List<byte>();
            PutString(request, ProtoFields.ListStylesRequest.PageToken, pageToken);
            return Framed(request);
        }

        /// <summary>
        /// A StylizeRequest with a frame of JPEG views, as a gRPC message, built in one array: each
        /// JPEG is copied once.
        /// </summary>
        public static byte[] FrameRequest(ulong id, long captureTimeUs, JpegView[] views)
        {
            var heads = new byte[views.Length][];
            var viewSizes = new long[views.Length];
            long frameSize = 0;
            var frameHead = new List<byte>();
            if (id != 0)
            {
                PutKey(frameHead, ProtoFields.Frame.Id, Varint);
                PutVarint(frameHead, id);
            }
            if (captureTimeUs != 0)
            {
                PutKey(frameHead, ProtoFields.Frame.CaptureTimeUs, Varint);
                PutVarint(frameHead, (ulong)captureTimeUs);
            }
            frameSize += frameHead.Count;
            for (int v = 0; v < views.Length; v++)
            {
                JpegView view = views[v];
                if (view.Jpeg == null || view.Jpeg.Length == 0)
                    throw new ArgumentException($"views[{v}].Jpeg: empty; expected a JPEG image",
                        nameof(views));
                var head = new List<byte>();
                PutVarintField(head, ProtoFields.View.Width, (ulong)view.Width);
                PutVarintField(head, ProtoFields.View.Height, (ulong)view.Height);
                PutVarintField(head, ProtoFields.View.Format, (ulong)view.Format);
                PutVarintField(head, ProtoFields.View.ColorSpace, view.Linear ? 2UL : 1UL);
                PutKey(head, ProtoFields.View.Jpeg, Len);
                PutVarint(head, (ulong)view.Jpeg.Length);
                heads[v] = head.ToArray();
                viewSizes[v] = heads[v].Length + view.Jpeg.Length;
                frameSize += KeySize(ProtoFields.Frame.Views) + VarintSize((ulong)viewSizes[v])
                    + viewSizes[v];
            }
            var requestHead = new List<byte>();
            PutKey(requestHead, ProtoFields.StylizeRequest.Frame, Len);
            PutVarint(requestHead, (ulong)frameSize);
            long total = requestHead.Count + frameSize;
            var message = new byte[5 + total];
            Prefix(message, total);
            int at = 5;
            at = Append(message, at, requestHead);
            at = Append(message, at, frameHead);
            for (int v = 0; v < views.Length; v++)
            {
                var key = new List<byte>();
                PutKey(key, ProtoFields.Frame.Views, Len);
                PutVarint(key, (ulong)viewSizes[v]);
                at = Append(message, at, key);
                Buffer.BlockCopy(heads[v], 0, message, at, heads[v].Length);
                at += heads[v].Length;
                Buffer.BlockCopy(views[v].Jpeg, 0, message, at, views[v].Jpeg.Length);
                at += views[v].Jpeg.Length;
            }
            return message;
        }

        /// <summary>
        /// A StylizeReply: a frame reply, a session reply, or (malformed) an exception.
        /// </summary>
        public static object ParseReply(byte[] m)
        {
            var r = new Reader(m, 0, m.Length);
            FrameReply frame = null;
            SessionReply session = null;
            int code = 0;
            string message = "";
            while (r.Next())
            {
                if (r.Type != Len) continue;
                if (r.Number == ProtoFields.StylizeReply.Frame) frame = ParseFrame(r.Sub());
                else if (r.Number == ProtoFields.StylizeReply.Session)
                    session = ParseSession(r.Sub());
                else if (r.Number == ProtoFields.StylizeReply.Error)
                    ParseStatus(r.Sub(), out code, out message);
            }
            if (frame == null && session == null)
                throw new ArtemException(13, "a reply with neither frame nor session");
            if (frame != null)
            {
                frame.Code = code;
                frame.Message = message;
                return frame;
            }
            session.Code = code;
            session.Message = message;
            return session;
        }

        static FrameReply ParseFrame(Reader r)
        {
            var reply = new FrameReply();
            var jpegs = new List<byte[]>();
            while (r.Next())
            {
                if (r.Number == ProtoFields.StylizedFrame.Id && r.Type == Varint)
                    reply.Id = r.Value;
                else if (r.Number == ProtoFields.StylizedFrame.DroppedFrames && r.Type == Varint)
                    reply.DroppedFrames = (uint)r.Value;
                else if (r.Number == ProtoFields.StylizedFrame.Style && r.Type == Len)
                    reply.Style = r.String();
                else if (r.Number == ProtoFields.StylizedFrame.Views && r.Type == Len)
                {
                    Reader v = r.Sub();
                    byte[] jpeg = new byte[0];
                    while (v.Next())
                        if (v.Number == ProtoFields.View.Jpeg && v.Type == Len) jpeg = v.Bytes();
                    jpegs.Add(jpeg);
                }
                else if (r.Number == ProtoFields.StylizedFrame.Timings && r.Type == Len)
                {
                    Reader t = r.Sub();
                    while (t.Next())
                    {
                        if (t.Type != Fixed32) continue;
                        float ms = t.Float();
                        if (t.Number == ProtoFields.Timings.QueueMs) reply.QueueMs = ms;
                        else if (t.Number == ProtoFields.Timings.ConvertMs) reply.ConvertMs = ms;
                        else if (t.Number == ProtoFields.Timings.ModelMs) reply.ModelMs = ms;
                        else if (t.Number == ProtoFields.Timings.TotalMs) reply.TotalMs = ms;
                        else if (t.Number == ProtoFields.Timings.TransferMs) reply.TransferMs = ms;
                    }
                }
            }
            reply.Jpegs = jpegs.ToArray();
            return reply;
        }

        static SessionReply ParseSession(Reader r)
        {
            var s = new SessionReply();
            while (r.Next())
            {
                if (r.Number == ProtoFields.SessionState.Style && r.Type == Len)
                    s.Style = r.String();
                else if (r.Number == ProtoFields.SessionState.Kind && r.Type == Len)
                    s.Kind = r.String();
                else if (r.Number == ProtoFields.SessionState.Strength
                    && r.Type == Fixed32) s.Strength = r.Float();
                else if (r.Number == ProtoFields.SessionState.JpegQuality
                    && r.Type == Varint) s.JpegQuality = (uint)r.Value;
            }
            return s;
        }

        static void ParseStatus(Reader r, out int code, out string message)
        {
            code = 0;
            message = "";
            while (r.Next())
            {
                if (r.Number == ProtoFields.Status.Code && r.Type == Varint) code = (int)r.Value;
                else if (r.Number == ProtoFields.Status.Message && r.Type == Len)
                    message = r.String();
            }
        }

        /// <summary>
        /// The styles of a ListStylesReply; <c>nextPageToken</c> is empty on the last page.
        /// </summary>
        public static List<StyleEntry> ParseListStyles(byte[] m, out string nextPageToken)
        {
            var styles = new List<StyleEntry>();
            nextPageToken = "";
            var r = new Reader(m, 0, m.Length);
            while (r.Next())
            {
                if (r.Number == ProtoFields.ListStylesReply.NextPageToken
                    && r.Type == Len) nextPageToken = r.String();
                if (r.Number != ProtoFields.ListStylesReply.Styles || r.Type != Len) continue;
                Reader s = r.Sub();
                string id = "", kind = "", name = "";
                byte[] png = new byte[0];
                while (s.Next())
                {
                    if (s.Type != Len) continue;
                    if (s.Number == ProtoFields.StyleInfo.Id) id = s.String();
                    else if (s.Number == ProtoFields.StyleInfo.Kind) kind = s.String();
                    else if (s.Number == ProtoFields.StyleInfo.DisplayName) name = s.String();
                    else if (s.Number == ProtoFields.StyleInfo.ThumbnailPng) png = s.Bytes();
                }
                styles.Add(new StyleEntry(id, kind, name, png));
            }
            return styles;
        }

        /// <summary>Reads fields in order; throws ArtemException (13) at a malformed one.</summary>
        sealed class Reader
        {
            readonly byte[] b;
            int p;
            readonly int end;
            public int Number, Type, Offset, Length;
            public ulong Value;

            public Reader(byte[] bytes, int start, int stop)
            {
                b = bytes;
                p = start;
                end = stop;
            }

            public bool Next()
            {
                if (p == end) return false;
                ulong key = ReadVarint();
                Number = (int)(key >> 3);
                Type = (int)(key & 7);
                if (Number == 0) throw Malformed();
                switch (Type)
                {
                    case Varint:
                        Value = ReadVarint();
                        break;
                    case Fixed32:
                    case Fixed64:
                        int n = Type == Fixed32 ? 4 : 8;
                        if (end - p < n) throw Malformed();
                        Offset = p;
                        Value = 0;
                        for (int i = 0; i < n; i++) Value |= (ulong)b[p + i] << (8 * i);
                        p += n;
                        break;
                    case Len:
                        ulong len = ReadVarint();
                        if (len > (ulong)(end - p)) throw Malformed();
                        Offset = p;
                        Length = (int)len;
                        p += Length;
                        break;
                    default:  // groups are not in the contract
                        throw Malformed();
                }
                return true;
            }

            public Reader Sub() => new Reader(b, Offset, Offset + Length);

            public string String() => Encoding.UTF8.GetString(b, Offset, Length);

            public byte[] Bytes()
            {
                var copy = new byte[Length];
                Buffer.BlockCopy(b, Offset, copy, 0, Length);
                return copy;
            }

            public float Float() => BitConverter.ToSingle(BitConverter.GetBytes((uint)Value), 0);

            ulong ReadVarint()
            {
                ulong v = 0;
                for (int shift = 0; shift < 64 && p < end; shift += 7)
                {
                    byte x = b[p++];
                    v |= (ulong)(x & 0x7f) << shift;
                    if ((x & 0x80) == 0) return v;
                }
                throw Malformed();
            }

            static ArtemException Malformed() => new ArtemException(13,
                "a malformed message from the server");
        }

        static void PutVarint(List<byte> into, ulong v)
        {
            while (v >= 0x80)
            {
                into.Add((byte)(v | 0x80));
                v >>= 7;
            }
            into.Add((byte)v);
        }

        static int VarintSize(ulong v)
        {
            int n = 1;
            while (v >= 0x80)
            {
                v >>= 7;
                n++;
            }
            return n;
        }

        static int KeySize(int field) => VarintSize((ulong)field << 3);

        static void PutKey(List<byte> into, int field, int type) => PutVarint(into,
            (ulong)field << 3 | (ulong)type);

        static void PutVarintField(List<byte> into, int field, ulong v)
        {
            if (v == 0) return;  // proto3: a scalar at its default is left out
            PutKey(into, field, Varint);
            PutVarint(into, v);
        }

        static void PutBytes(List<byte> into, int field, byte[] data, int offset, int count)
        {
            PutKey(into, field, Len);
            PutVarint(into, (ulong)count);
            for (int i = 0; i < count; i++) into.Add(data[offset + i]);
        }

        static void PutString(List<byte> into, int field, string s)
        {
            if (string.IsNullOrEmpty(s)) return;
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            PutBytes(into, field, bytes, 0, bytes.Length);
        }

        static byte[] Framed(List<byte> message)
        {
            var framed = new byte[5 + message.Count];
            Prefix(framed, message.Count);
            message.CopyTo(framed, 5);
            return framed;
        }

        // The gRPC message prefix: not compressed, then the length, big-endian.
        static void Prefix(byte[] into, long length)
        {
            into[0] = 0;
            into[1] = (byte)(length >> 24);
            into[2] = (byte)(length >> 16);
            into[3] = (byte)(length >> 8);
            into[4] = (byte)length;
        }

        static int Append(byte[] into, int at, List<byte> bytes)
        {
            bytes.CopyTo(into, at);
            return at + bytes.Count;
        }
    }
}
