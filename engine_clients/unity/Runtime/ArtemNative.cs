// P/Invoke declarations of the native client core's C ABI (engine_clients/native/include/artem/artem.h).
// Field order and sizes match the C structs; keep them in step with the header.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace ArtEm
{
    /// <summary>Pixel formats: the values of artem.v1.PixelFormat.</summary>
    public enum PixelFormat
    {
        Rgba8 = 1,
        Bgra8 = 2,
        Rgb8 = 3,
    }

    /// <summary>One view (eye) of every frame of a session.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ViewDesc
    {
        public int Width;
        public int Height;
        public PixelFormat Format;
        public int RowStride;  // bytes from one row to the next; 0: packed
        public int Linear;     // 1: linear colour (engines render in linear), 0: sRGB

        public ViewDesc(int width, int height, PixelFormat format, bool linear = false, int rowStride = 0)
        {
            Width = width;
            Height = height;
            Format = format;
            RowStride = rowStride;
            Linear = linear ? 1 : 0;
        }

        /// <summary>Bytes the view takes in a slot: full rows but the last, which stops at its last pixel.</summary>
        public long Bytes
        {
            get
            {
                long packed = (long)Width * (Format == PixelFormat.Rgb8 ? 3 : 4);
                return Height <= 0 ? 0 : (RowStride > 0 ? RowStride : packed) * (Height - 1) + packed;
            }
        }
    }

    /// <summary>What the server says about one stylized frame.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FrameInfo
    {
        public ulong Id;
        public uint Slot;           // the slot it was sent from: its pixels are in this reply slot
        public uint DroppedFrames;  // earlier frames replaced unanswered (latest frame wins)
        public int Code;            // 0, or the status code of a refused frame (TryReceive)
        public float QueueMs, ConvertMs, ModelMs, TransferMs, TotalMs;
    }

    /// <summary>How a session's pixels travel (ARTEM_SHARED_MEMORY, ARTEM_INLINE, ARTEM_JPEG).</summary>
    public enum Transport
    {
        SharedMemory = 0,  // a region both sides map: the server on the same host
        Inline = 1,        // raw in the gRPC messages: any server, a fast link
        Jpeg = 2,          // JPEG both ways at quality 90: a server over a network; alpha comes back 255
    }

    /// <summary>artem_connect_options: what a server started with --token-file or --tls-cert asks for.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ConnectOptionsNative
    {
        public uint StructSize;
        [MarshalAs(UnmanagedType.LPUTF8Str)] public string Token;
        [MarshalAs(UnmanagedType.LPUTF8Str)] public string TlsCaFile;
        [MarshalAs(UnmanagedType.LPUTF8Str)] public string TlsServerName;
    }

    /// <summary>artem_style_info: pointers valid until the list is freed.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct StyleInfoNative
    {
        public IntPtr Id, Kind, DisplayName, ThumbnailPng;
        public UIntPtr ThumbnailLength;
    }

    internal static class ArtemNative
    {
        const string Library = "artem_native";  // libartem_native.so / .dylib, artem_native.dll
        internal const int ErrorLength = 1024;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_open(
            [MarshalAs(UnmanagedType.LPUTF8Str)] string address, [MarshalAs(UnmanagedType.LPUTF8Str)] string style,
            float strength, [In] ViewDesc[] views, uint nViews, uint slotCount, out IntPtr session,
            StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_open_transport(
            [MarshalAs(UnmanagedType.LPUTF8Str)] string address, [MarshalAs(UnmanagedType.LPUTF8Str)] string style,
            float strength, [In] ViewDesc[] views, uint nViews, uint slotCount, int transport, out IntPtr session,
            StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_open_ex(
            [MarshalAs(UnmanagedType.LPUTF8Str)] string address, ref ConnectOptionsNative options,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string style, float strength, [In] ViewDesc[] views, uint nViews,
            uint slotCount, int transport, out IntPtr session, StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr artem_request_view(IntPtr session, uint slot, uint view);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr artem_reply_view(IntPtr session, uint slot, uint view);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_stylize(IntPtr session, ulong id, uint slot, out FrameInfo info,
                                                 StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_send(IntPtr session, ulong id, uint slot, StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_receive(IntPtr session, int timeoutMs, out FrameInfo info, StringBuilder error,
                                                 UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_set_style(IntPtr session, [MarshalAs(UnmanagedType.LPUTF8Str)] string style,
                                                   float strength, StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void artem_close(IntPtr session);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_list_styles([MarshalAs(UnmanagedType.LPUTF8Str)] string address, int timeoutMs,
                                                     out IntPtr list, StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_list_styles_ex([MarshalAs(UnmanagedType.LPUTF8Str)] string address,
                                                        ref ConnectOptionsNative options, int timeoutMs,
                                                        out IntPtr list, StringBuilder error, UIntPtr errorLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint artem_style_count(IntPtr list);

        /// <summary>
        /// Whether the native core loads here (it is not built for Android or macOS); asked once.
        /// </summary>
        internal static bool Loads()
        {
            if (loads.HasValue) return loads.Value;
            try
            {
                artem_style_count(IntPtr.Zero);
                loads = true;
            }
            catch (DllNotFoundException) { loads = false; }
            catch (EntryPointNotFoundException) { loads = false; }
            return loads.Value;
        }

        static bool? loads;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int artem_style_at(IntPtr list, uint index, out StyleInfoNative info);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void artem_style_list_free(IntPtr list);
    }
}
