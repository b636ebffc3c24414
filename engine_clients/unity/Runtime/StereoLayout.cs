// How a camera's frame maps onto a session's views (engine-free; tested under Mono).
using System;

namespace ArtEm
{
    public enum StereoMode
    {
        Mono,                 // one view
        MultiPass,            // two views, each eye rendered (and read back) in its own pass
        SinglePassInstanced,  // two views, both eyes in one pass: a 2-slice texture array
    }

    /// <summary>The eyes of every frame: how many, their size, and where each is read from.</summary>
    public struct StereoLayout : IEquatable<StereoLayout>
    {
        public StereoMode Mode { get; }
        public int Width { get; }   // per eye
        public int Height { get; }

        public StereoLayout(StereoMode mode, int width, int height)
        {
            if (width <= 0 || height <= 0)
                throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height}: expected a positive eye size");
            Mode = mode;
            Width = width;
            Height = height;
        }

        /// <summary>
        /// From what a camera hands its image effect: a texture array of two slices is single-pass
        /// instanced; a plain texture with stereo on is one eye of multi-pass; else mono.
        /// </summary>
        public static StereoLayout Of(bool textureArray, int slices, bool stereo, int width, int height)
        {
            if (textureArray && slices != 2)
                throw new ArgumentException($"a texture array of {slices} slices: expected 2 (left, right eye)",
                                            nameof(slices));
            StereoMode mode = textureArray ? StereoMode.SinglePassInstanced
                            : stereo ? StereoMode.MultiPass
                            : StereoMode.Mono;
            return new StereoLayout(mode, width, height);
        }

        public int Eyes => Mode == StereoMode.Mono ? 1 : 2;

        /// <summary>Readbacks per pass: both eyes in one (single-pass instanced), else one.</summary>
        public int EyesPerPass => Mode == StereoMode.SinglePassInstanced ? 2 : 1;

        /// <summary>The texture-array slice eye <c>eye</c> is read from (single-pass instanced), else 0.</summary>
        public int SliceOf(int eye) => Mode == StereoMode.SinglePassInstanced ? eye : 0;

        /// <summary>The session's views: every eye RGBA8 at this size, in the colour space read back.</summary>
        public ViewDesc[] Views(bool linear)
        {
            var views = new ViewDesc[Eyes];
            for (int i = 0; i < views.Length; i++) views[i] = new ViewDesc(Width, Height, PixelFormat.Rgba8, linear);
            return views;
        }

        public long EyeBytes => (long)Width * Height * 4;

        public bool Equals(StereoLayout o) => Mode == o.Mode && Width == o.Width && Height == o.Height;
        public override bool Equals(object o) => o is StereoLayout l && Equals(l);
        public override int GetHashCode() => ((int)Mode * 397 ^ Width) * 397 ^ Height;
        public override string ToString() => $"{Mode} {Eyes}x{Width}x{Height}";
    }

    /// <summary>Colour-space and transport choices made from the project and the address.</summary>
    public static class StreamChoices
    {
        /// <summary>
        /// Whether the bytes read back from a camera target are linear light. In a Linear-colour-space
        /// project, 8-bit targets are normally sRGB-encoded (the GPU encodes on write, so the bytes
        /// are sRGB), while float (HDR) and non-sRGB UNorm targets hold linear values, which the
        /// readback's conversion to RGBA8 keeps linear. In a Gamma project everything is gamma-encoded.
        /// The stylized reply goes back into a texture of the same kind, so sampling decodes it alike.
        /// </summary>
        public static bool ReadsLinear(bool projectLinear, bool targetSrgb) => projectLinear && !targetSrgb;

        /// <summary>
        /// Automatic: shared memory for a server on this host where the platform has it (not
        /// Android), raw inline for this host otherwise, JPEG for a server on another host (a
        /// headset on Wi-Fi cannot carry raw frames). Any other setting is taken as given. (Where
        /// the native core does not load, ArtemStylizer uses the managed client: JPEG always.)
        /// </summary>
        public static Transport TransportFor(TransportSetting setting, string address, bool platformHasSharedMemory)
        {
            switch (setting)
            {
                case TransportSetting.SharedMemory: return Transport.SharedMemory;
                case TransportSetting.Inline: return Transport.Inline;
                case TransportSetting.Jpeg: return Transport.Jpeg;
                default:
                    if (!IsThisHost(address)) return Transport.Jpeg;
                    return platformHasSharedMemory ? Transport.SharedMemory : Transport.Inline;
            }
        }

        /// <summary>Whether <c>address</c> (host:port, [v6]:port, unix:path) is this machine by loopback.</summary>
        public static bool IsThisHost(string address)
        {
            if (string.IsNullOrEmpty(address)) return false;
            if (address.StartsWith("unix:", StringComparison.Ordinal)) return true;
            string host = address;
            if (host.StartsWith("[", StringComparison.Ordinal))
            {
                int close = host.IndexOf(']');
                host = close > 0 ? host.Substring(1, close - 1) : host;
            }
            else if (host.IndexOf(':') == host.LastIndexOf(':') && host.IndexOf(':') >= 0)
            {
                host = host.Substring(0, host.IndexOf(':'));
            }
            host = host.ToLowerInvariant();
            return host == "localhost" || host == "::1" || host.StartsWith("127.", StringComparison.Ordinal);
        }
    }

    /// <summary>The inspector's transport setting.</summary>
    public enum TransportSetting
    {
        Automatic,     // shared memory when the server is on this host, JPEG when it is not
        SharedMemory,
        Inline,
        Jpeg,
    }
}
