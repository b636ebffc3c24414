// The component a Unity developer puts on a camera (built-in render pipeline): each frame's eyes
// are read back by the GPU straight into a request slot, sent through the native core (where it
// cannot load, e.g. Android, through the managed client as JPEG), and the newest stylized reply
// is uploaded and shown in place of the camera's image. Nothing here
// waits for the GPU or the server: a frame with no free slot is skipped, and when no reply is
// ready the last one stays on show. The decisions live in engine-free classes (StylizerLink,
// FrameSlots, StereoLayout, StreamChoices), tested outside Unity; this file has not run inside
// the Unity editor or a player on this project's machines.
using System;
using Unity.Collections;
using Unity.Collections.LowLevel.Unsafe;
using UnityEngine;
using UnityEngine.Experimental.Rendering;
using UnityEngine.Rendering;

namespace ArtEm
{
    [RequireComponent(typeof(Camera))]
    [AddComponentMenu("ArtEm/Artem Stylizer")]
    public sealed class ArtemStylizer : MonoBehaviour
    {
        [Tooltip("host:port of the ArtEm server")]
        public string address = "127.0.0.1:50051";

        [Tooltip("A style id the server lists (the inspector shows them)")]
        public string style = "identity";

        [Range(0f, 1f)]
        public float strength = 1f;

        [Tooltip("Automatic: shared memory when the server is on this host, JPEG when it is not")]
        public TransportSetting transport = TransportSetting.Automatic;

        [Tooltip("File holding the server's bearer token (artem serve --token-file); empty: none")]
        public string tokenFile = "";

        [Tooltip("PEM file of the CA that signed the server's certificate (artem serve --tls-cert); empty: " +
                 "plaintext")]
        public string tlsCaFile = "";

        [Tooltip("The name the server's certificate must carry; empty: the address's host")]
        public string tlsServerName = "";

        [Tooltip("Frames that can be out at once (reading back, or at the server)")]
        [Range(2, 4)]
        public int slots = 3;

        [Tooltip("Seconds between reconnection attempts")]
        public float retrySeconds = 2f;

        /// <summary>The stream: its state, latency and counters (null before the first frame).</summary>
        public StylizerLink Link { get; private set; }

        public string Status => Link == null ? "waiting for the first frame" : Link.Summary;

        Camera cam;
        Texture2D[] eyeTextures;      // mono, multi-pass: the stylized eyes
        Texture2DArray arrayTexture;  // single-pass instanced: both stylized eyes, one slice each
        bool replyShown;
        int passSlot = -1;            // multi-pass: the slot the left eye's pass began
        float retryAt;

        void OnEnable() => cam = GetComponent<Camera>();

        void OnDisable() => CloseLink();

        void Update()
        {
            if (Link == null) return;
            Link.Update();
            if (Link.State == LinkState.Streaming && (style != Link.Style || strength != Link.Strength))
                Link.SetStyle(style, strength);
            if (Link.TakeNewest(out FrameInfo newest)) Upload((int)newest.Slot);
        }

        void OnRenderImage(RenderTexture source, RenderTexture destination)
        {
            bool array = source.dimension == TextureDimension.Tex2DArray;
            StereoLayout layout =
                StereoLayout.Of(array, source.volumeDepth, cam.stereoEnabled, source.width, source.height);
            bool linear = StreamChoices.ReadsLinear(QualitySettings.activeColorSpace == ColorSpace.Linear, source.sRGB);
            EnsureLink(layout, linear);
            bool right = cam.stereoActiveEye == Camera.MonoOrStereoscopicEye.Right;
            int eye = layout.Mode == StereoMode.MultiPass && right ? 1 : 0;
            ReadBack(source, layout, eye);
            Show(source, destination, layout, eye);
        }

        void EnsureLink(StereoLayout layout, bool linear)
        {
            if (Link != null && Link.Layout.Equals(layout) && Link.Linear == linear && Link.Address == address &&
                (Link.State != LinkState.Failed || Time.realtimeSinceStartup < retryAt))
                return;
            CloseLink();
            // Where the native core cannot load (Android: a Quest standalone), the managed client
            // streams JPEG whatever the transport setting says.
            bool native = Application.platform != RuntimePlatform.Android && ArtemNative.Loads();
            Transport how = StreamChoices.TransportFor(transport, address, native);
            Link = new StylizerLink(address, style, strength, how, layout, linear, slots,
                                    native ? null : (JpegEncoder)EncodeJpeg, null, ConnectOptions());
            retryAt = Time.realtimeSinceStartup + retrySeconds;
            MakeTextures(layout, linear);
        }

        /// <summary>The token and TLS settings for a connection (and the inspector's style list).</summary>
        public ConnectOptions ConnectOptions() =>
            new ConnectOptions { TokenFile = tokenFile, TlsCaFile = tlsCaFile, TlsServerName = tlsServerName };

        void ReadBack(RenderTexture source, StereoLayout layout, int eye)
        {
            int slot;
            if (layout.Mode == StereoMode.MultiPass && eye == 1)
            {
                slot = passSlot;  // the right eye goes into the slot its left eye began
                passSlot = -1;
            }
            else
            {
                slot = Link.BeginFrame();
                if (layout.Mode == StereoMode.MultiPass) passSlot = slot;
            }
            if (slot < 0) return;  // not streaming yet, or every slot busy: skip this frame
            StylizerLink link = Link;
            for (int e = eye; e < eye + layout.EyesPerPass; e++)
            {
                NativeArray<byte> into = Over(link.RequestView(slot, e), layout.EyeBytes);
                int z = layout.SliceOf(e);
                AsyncGPUReadback.RequestIntoNativeArray(ref into, source, 0, 0, layout.Width, 0, layout.Height, z, 1,
                                                        TextureFormat.RGBA32, request =>
                                                        {
                                                            if (link != Link) return;  // replaced meanwhile
                                                            if (request.hasError) link.ReadbackFailed(slot);
                                                            else link.EyeRead(slot);
                                                        });
            }
        }

        void Upload(int slot)
        {
            StereoLayout layout = Link.Layout;
            for (int e = 0; e < layout.Eyes; e++)
            {
                if (Link.Managed)
                {
                    ImageConversion.LoadImage(eyeTextures[e], Link.ReplyJpeg(slot, e));  // applies it too
                    continue;
                }
                IntPtr pixels = Link.ReplyView(slot, e);
                if (arrayTexture != null)
                    arrayTexture.SetPixelData(Over(pixels, layout.EyeBytes), 0, e);
                else
                    eyeTextures[e].LoadRawTextureData(pixels, (int)layout.EyeBytes);
            }
            if (arrayTexture != null) arrayTexture.Apply(false);
            else if (!Link.Managed) foreach (Texture2D t in eyeTextures) t.Apply(false);
            replyShown = true;
        }

        void Show(RenderTexture source, RenderTexture destination, StereoLayout layout, int eye)
        {
            if (!replyShown)
                Graphics.Blit(source, destination);  // no reply yet: the camera's own image
            else if (arrayTexture != null)
                for (int e = 0; e < 2; e++) Graphics.Blit(arrayTexture, destination, e, e);
            else if (layout.Mode == StereoMode.SinglePassInstanced)  // managed: one texture an eye
                for (int e = 0; e < 2; e++) Graphics.Blit(eyeTextures[e], destination, 0, e);
            else
                Graphics.Blit(eyeTextures[eye], destination);
        }

        void MakeTextures(StereoLayout layout, bool linear)
        {
            DestroyTextures();
            if (layout.Mode == StereoMode.SinglePassInstanced && !Link.Managed)
            {
                arrayTexture = new Texture2DArray(layout.Width, layout.Height, 2, TextureFormat.RGBA32, false, linear);
                return;
            }
            eyeTextures = new Texture2D[layout.Eyes];
            for (int e = 0; e < eyeTextures.Length; e++)
                eyeTextures[e] = new Texture2D(layout.Width, layout.Height, TextureFormat.RGBA32, false, linear);
        }

        void DestroyTextures()
        {
            if (arrayTexture != null) Destroy(arrayTexture);
            if (eyeTextures != null) foreach (Texture2D t in eyeTextures) Destroy(t);
            arrayTexture = null;
            eyeTextures = null;
            replyShown = false;
        }

        void CloseLink()
        {
            if (Link == null) return;
            AsyncGPUReadback.WaitAllRequests();  // none may still write into the slots
            Link.Dispose();
            Link = null;
            passSlot = -1;
            DestroyTextures();
        }

        // The managed path's encoder, on its sender thread (EncodeArrayToJPG is thread-safe).
        static byte[] EncodeJpeg(byte[] pixels, ViewDesc view, int quality) =>
            ImageConversion.EncodeArrayToJPG(pixels, view.Linear != 0 ? GraphicsFormat.R8G8B8A8_UNorm
                                                                      : GraphicsFormat.R8G8B8A8_SRGB,
                                             (uint)view.Width, (uint)view.Height, 0, quality);

        /// <summary>A NativeArray over a slot's memory: readbacks write, uploads read, nothing is copied.</summary>
        static unsafe NativeArray<byte> Over(IntPtr memory, long bytes)
        {
            NativeArray<byte> array = NativeArrayUnsafeUtility.ConvertExistingDataToNativeArray<byte>(
                (void*)memory, (int)bytes, Allocator.None);
#if ENABLE_UNITY_COLLECTIONS_CHECKS
            NativeArrayUnsafeUtility.SetAtomicSafetyHandle(ref array, Safety);
#endif
            return array;
        }

#if ENABLE_UNITY_COLLECTIONS_CHECKS
        // One handle for every slot view: the slots live as long as their link, and CloseLink
        // waits for all readbacks before the link goes.
        static readonly AtomicSafetyHandle Safety = AtomicSafetyHandle.Create();
#endif
    }
}
