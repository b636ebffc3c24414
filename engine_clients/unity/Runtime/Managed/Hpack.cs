// HPACK (RFC 7541) for the managed gRPC client: a decoder with the static and dynamic tables and
// Huffman strings (grpcio's server Huffman-codes and indexes its headers), and a literal-only
// encoder (a client's few request headers need neither). A port of the native core's hpack.cpp.
using System;
using System.Collections.Generic;
using System.Text;

namespace ArtEm
{
    internal sealed class HpackDecoder
    {
        // RFC 7541 Appendix A: name, value pairs, index 1 first.
        static readonly string[] Static =
        {
            ":authority", "",  ":method", "GET",  ":method", "POST",  ":path", "/",
            ":path", "/index.html",  ":scheme", "http",  ":scheme", "https",  ":status", "200",
            ":status", "204",  ":status", "206",  ":status", "304",  ":status", "400",
            ":status", "404",  ":status", "500",  "accept-charset", "",
            "accept-encoding", "gzip, deflate",  "accept-language", "",  "accept-ranges", "",
            "accept", "",  "access-control-allow-origin", "",  "age", "",  "allow", "",
            "authorization", "",  "cache-control", "",  "content-disposition", "",
            "content-encoding", "",  "content-language", "",  "content-length", "",
            "content-location", "",  "content-range", "",  "content-type", "",  "cookie", "",
            "date", "",  "etag", "",  "expect", "",  "expires", "",  "from", "",  "host", "",
            "if-match", "",  "if-modified-since", "",  "if-none-match", "",  "if-range", "",
            "if-unmodified-since", "",  "last-modified", "",  "link", "",  "location", "",
            "max-forwards", "",  "proxy-authenticate", "",  "proxy-authorization", "",  "range", "",
            "referer", "",  "refresh", "",  "retry-after", "",  "server", "",  "set-cookie", "",
            "strict-transport-security", "",  "transfer-encoding", "",  "user-agent", "",
            "vary", "",  "via", "",  "www-authenticate", "",
        };

        // RFC 7541 Appendix B: the code of each symbol (0-255, then EOS) and its length in bits.
        static readonly uint[] Huffman =
        {
            0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28,
            0xfffffe6, 28, 0xfffffe7, 28, 0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30,
            0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28,
            0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28,
            0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28, 0xffffff4, 28, 0xffffff5, 28,
            0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28,
            0xffffffb, 28, 0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8,
            0x7fa, 11, 0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
            0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6, 0x1e, 6, 0x1f, 6,
            0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, 0x1ffa, 13, 0x21, 6,
            0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7, 0x63, 7, 0x64, 7, 0x65, 7,
            0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7, 0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7,
            0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, 0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19,
            0x1ffc, 13, 0x3ffc, 14, 0x22, 6, 0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5,
            0x25, 6, 0x26, 6, 0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5,
            0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7, 0x79, 7, 0x7a, 7,
            0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28, 0xfffe6, 20,
            0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22,
            0x7fffd9, 23, 0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23,
            0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23, 0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22,
            0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23, 0x7fffe4, 23,
            0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23,
            0xffffef, 24, 0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22,
            0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21, 0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22,
            0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23, 0x1fffe0, 21,
            0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23,
            0x7fffef, 23, 0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23,
            0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23, 0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20,
            0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25, 0x3ffffe2, 26,
            0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24,
            0x1ffffed, 25, 0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27,
            0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24, 0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26,
            0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27, 0xfffec, 20,
            0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21,
            0x7ffff3, 23, 0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24,
            0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23, 0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26,
            0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27,
            0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27,
            0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, 0x3fffffff, 30,
        };

        // The Huffman codes as a binary tree: children of node n at Next[2n], Next[2n+1] (0: none);
        // Symbol[n] is a leaf's symbol, -1 inside.
        static readonly int[] Next;
        static readonly int[] Symbol;

        static HpackDecoder()
        {
            var next = new List<int> { 0, 0 };
            var symbol = new List<int> { -1 };
            for (int s = 0; s < 257; s++)
            {
                uint bits = Huffman[2 * s];
                int length = (int)Huffman[2 * s + 1];
                int node = 0;
                for (int i = length - 1; i >= 0; i--)
                {
                    int bit = (int)((bits >> i) & 1);
                    if (next[2 * node + bit] == 0)
                    {
                        next[2 * node + bit] = symbol.Count;
                        next.Add(0);
                        next.Add(0);
                        symbol.Add(-1);
                    }
                    node = next[2 * node + bit];
                }
                symbol[node] = s;
            }
            Next = next.ToArray();
            Symbol = symbol.ToArray();
        }

        readonly LinkedList<KeyValuePair<string, string>> table =
            new LinkedList<KeyValuePair<string, string>>();
        int tableSize;
        int maxSize;

        /// <summary>The peer's table starts at <c>maxTableSize</c> (HTTP/2's default).</summary>
        public HpackDecoder(int maxTableSize = 4096) { maxSize = maxTableSize; }

        /// <summary>The dynamic table's size as RFC 7541 counts it (32 + name + value).</summary>
        public int TableSize => tableSize;

        /// <summary>A header block's fields, in order; false when the block is malformed.</summary>
        public bool Decode(byte[] block, int count, List<KeyValuePair<string, string>> headers)
        {
            int p = 0;
            while (p < count)
            {
                byte b = block[p];
                ulong v;
                if ((b & 0x80) != 0)  // indexed field
                {
                    if (!Integer(block, count, ref p, 7, out v) ||
                        !Lookup(v, out KeyValuePair<string, string> h))
                        return false;
                    headers.Add(h);
                }
                else if ((b & 0xe0) == 0x20)  // dynamic table size update
                {
                    if (!Integer(block, count, ref p, 5, out v) || v > 4096) return false;
                    maxSize = (int)v;
                    Evict(0);
                }
                else
                {
                    // A literal: with incremental indexing (01), without (0000), never indexed
                    // (0001).
                    bool index = (b & 0xc0) == 0x40;
                    if (!Integer(block, count, ref p, index ? 6 : 4, out v)) return false;
                    string name, value;
                    if (v == 0)
                    {
                        if (!String(block, count, ref p, out name)) return false;
                    }
                    else
                    {
                        if (!Lookup(v, out KeyValuePair<string, string> named)) return false;
                        name = named.Key;
                    }
                    if (!String(block, count, ref p, out value)) return false;
                    var h = new KeyValuePair<string, string>(name, value);
                    if (index) Insert(h);
                    headers.Add(h);
                }
            }
            return true;
        }

        bool Lookup(ulong index, out KeyValuePair<string, string> header)
        {
            header = default(KeyValuePair<string, string>);
            if (index >= 1 && index <= 61)
            {
                ulong at = 2 * (index - 1);
                header = new KeyValuePair<string, string>(Static[at], Static[at + 1]);
                return true;
            }
            if (index < 62 || index - 62 >= (ulong)table.Count) return false;
            var node = table.First;
            for (ulong i = 62; i < index; i++) node = node.Next;
            header = node.Value;
            return true;
        }

        static int EntrySize(KeyValuePair<string, string> h) =>
            32 + Encoding.UTF8.GetByteCount(h.Key) + Encoding.UTF8.GetByteCount(h.Value);

        void Evict(int room)
        {
            while (table.Count > 0 && tableSize + room > maxSize)
            {
                tableSize -= EntrySize(table.Last.Value);
                table.RemoveLast();
            }
        }

        void Insert(KeyValuePair<string, string> h)
        {
            int size = EntrySize(h);
            Evict(size);
            if (size > maxSize) return;  // larger than the table: it empties it and is not kept
            tableSize += size;
            table.AddFirst(h);
        }

        // An integer with an N-bit prefix (RFC 7541 5.1).
        static bool Integer(byte[] b, int end, ref int p, int prefix, out ulong v)
        {
            v = 0;
            if (p >= end) return false;
            uint max = (1u << prefix) - 1;
            v = b[p++] & max;
            if (v < max) return true;
            for (int shift = 0; shift < 56; shift += 7)
            {
                if (p >= end) return false;
                byte x = b[p++];
                v += (ulong)(x & 0x7f) << shift;
                if ((x & 0x80) == 0) return true;
            }
            return false;
        }

        static bool String(byte[] b, int end, ref int p, out string s)
        {
            s = null;
            if (p >= end) return false;
            bool huffman = (b[p] & 0x80) != 0;
            if (!Integer(b, end, ref p, 7, out ulong n) || n > (ulong)(end - p)) return false;
            int start = p;
            p += (int)n;
            if (!huffman)
            {
                s = Encoding.UTF8.GetString(b, start, (int)n);
                return true;
            }
            return HuffmanDecode(b, start, (int)n, out s);
        }

        static bool HuffmanDecode(byte[] b, int start, int n, out string s)
        {
            s = null;
            var bytes = new List<byte>(n * 8 / 5 + 1);
            // bits since the last symbol: padding must be < 8 bits of ones
            int node = 0, depth = 0;
            bool allOnes = true;
            for (int i = start; i < start + n; i++)
            {
                for (int k = 7; k >= 0; k--)
                {
                    int bit = (b[i] >> k) & 1;
                    node = Next[2 * node + bit];
                    if (node == 0) return false;
                    depth++;
                    allOnes = allOnes && bit == 1;
                    int symbol = Symbol[node];
                    if (symbol < 0) continue;
                    if (symbol == 256) return false;  // EOS inside a string
                    bytes.Add((byte)symbol);
                    node = 0;
                    depth = 0;
                    allOnes = true;
                }
            }
            if (depth >= 8 || !allOnes) return false;
            s = Encoding.UTF8.GetString(bytes.ToArray());
            return true;
        }
    }

    internal static class HpackEncoder
    {
        /// <summary>Each header as a literal without indexing, new name, no Huffman.</summary>
        public static byte[] Encode(IList<KeyValuePair<string, string>> headers)
        {
            var into = new List<byte>(256);
            foreach (KeyValuePair<string, string> h in headers)
            {
                into.Add(0);
                PutString(into, h.Key);
                PutString(into, h.Value);
            }
            return into.ToArray();
        }

        static void PutString(List<byte> into, string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            PutInteger(into, 0, 7, (ulong)bytes.Length);
            into.AddRange(bytes);
        }

        static void PutInteger(List<byte> into, byte first, int prefix, ulong v)
        {
            ulong max = (1u << prefix) - 1;
            if (v < max)
            {
                into.Add((byte)(first | (byte)v));
                return;
            }
            into.Add((byte)(first | (byte)max));
            for (v -= max; v >= 0x80; v >>= 7) into.Add((byte)((v & 0x7f) | 0x80));
            into.Add((byte)v);
        }
    }
}
