// The styles a server offers (ListStyles through the native core), for a style picker.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace ArtEm
{
    /// <summary>One style a server offers: what a session takes, and a small preview.</summary>
    public sealed class StyleEntry
    {
        public string Id { get; }
        public string Kind { get; }
        public string DisplayName { get; }
        public byte[] ThumbnailPng { get; }  // empty when the style has none

        public StyleEntry(string id, string kind, string displayName, byte[] thumbnailPng)
        {
            Id = id;
            Kind = kind;
            DisplayName = displayName;
            ThumbnailPng = thumbnailPng;
        }
    }

    public static class ArtemStyles
    {
        /// <summary>
        /// The styles of the server at <c>address</c>, reached with <c>options</c>' token and TLS when given.
        /// Throws ArtemException (14: unreachable or TLS failed; 16: the token was refused).
        /// </summary>
        public static StyleEntry[] List(string address, int timeoutMs = 5000, ConnectOptions options = null)
        {
            // Android, or an editor without the native library (macOS): the managed client.
            if (!ArtemNative.Loads())
                using (var client = new ManagedStylizerClient(address, options?.ToManaged()))
                    return client.ListStyles(timeoutMs);
            var error = new StringBuilder(ArtemNative.ErrorLength);
            var native = ConnectOptions.ToNative(options);
            int code = ArtemNative.artem_list_styles_ex(address, ref native, timeoutMs, out IntPtr list, error,
                                                        (UIntPtr)error.Capacity);
            if (code != 0) throw new ArtemException(code, error.ToString());
            try
            {
                var styles = new StyleEntry[ArtemNative.artem_style_count(list)];
                for (uint i = 0; i < styles.Length; i++)
                {
                    ArtemNative.artem_style_at(list, i, out StyleInfoNative s);
                    var png = new byte[(long)s.ThumbnailLength];
                    if (png.Length > 0) Marshal.Copy(s.ThumbnailPng, png, 0, png.Length);
                    styles[i] = new StyleEntry(Utf8(s.Id), Utf8(s.Kind), Utf8(s.DisplayName), png);
                }
                return styles;
            }
            finally
            {
                ArtemNative.artem_style_list_free(list);
            }
        }

        static string Utf8(IntPtr p)
        {
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }
    }
}
