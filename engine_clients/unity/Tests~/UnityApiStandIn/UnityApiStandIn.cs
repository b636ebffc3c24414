// COMPILE-TIME STAND-IN for the parts of the UnityEngine and UnityEditor API that the package's
// Runtime/, Editor/ and Samples~/ code uses, so that tests/test_unity_binding.py can compile that
// code with Mono's mcs on a machine without Unity. It is NOT Unity: every member throws, nothing
// here runs, and nothing here is shipped. Signatures follow Unity 2021.3's scripting reference;
// a signature wrong here would compile here and fail in Unity, so keep additions to what the
// package calls, copied from the reference.
using System;

namespace Unity.Collections
{
    public enum Allocator { Invalid = 0, None = 1, Temp = 2, TempJob = 3, Persistent = 4 }

    public struct NativeArray<T> : IDisposable where T : struct
    {
        public int Length => throw new NotSupportedException("stand-in");
        public void Dispose() => throw new NotSupportedException("stand-in");
    }
}

namespace Unity.Collections.LowLevel.Unsafe
{
    public struct AtomicSafetyHandle
    {
        public static AtomicSafetyHandle Create() => throw new NotSupportedException("stand-in");
    }

    public static class NativeArrayUnsafeUtility
    {
        public static unsafe NativeArray<T> ConvertExistingDataToNativeArray<T>(void* dataPointer, int length,
                                                                                Allocator allocator) where T : struct
            => throw new NotSupportedException("stand-in");

        public static void SetAtomicSafetyHandle<T>(ref NativeArray<T> array, AtomicSafetyHandle safety) where T : struct
            => throw new NotSupportedException("stand-in");
    }
}

namespace UnityEngine
{
    using Unity.Collections;

    public class Object
    {
        public string name { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public static void Destroy(Object obj) => throw new NotSupportedException("stand-in");
        public static void DestroyImmediate(Object obj) => throw new NotSupportedException("stand-in");
        public static implicit operator bool(Object exists) => throw new NotSupportedException("stand-in");
    }

    public class Component : Object
    {
        public Transform transform => throw new NotSupportedException("stand-in");
        public GameObject gameObject => throw new NotSupportedException("stand-in");
        public T GetComponent<T>() => throw new NotSupportedException("stand-in");
    }

    public class Behaviour : Component
    {
        public bool enabled { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
    }

    public class MonoBehaviour : Behaviour { }

    public sealed class GameObject : Object
    {
        public GameObject(string name) => throw new NotSupportedException("stand-in");
        public Transform transform => throw new NotSupportedException("stand-in");
        public string tag { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public T AddComponent<T>() where T : Component => throw new NotSupportedException("stand-in");
        public T GetComponent<T>() => throw new NotSupportedException("stand-in");
        public static GameObject CreatePrimitive(PrimitiveType type) => throw new NotSupportedException("stand-in");
    }

    public enum PrimitiveType { Sphere = 0, Capsule = 1, Cylinder = 2, Cube = 3, Plane = 4, Quad = 5 }

    public class Transform : Component
    {
        public Vector3 position { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public Vector3 localPosition { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public Quaternion rotation { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public Quaternion localRotation { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public Vector3 localScale { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public void SetParent(Transform parent, bool worldPositionStays) => throw new NotSupportedException("stand-in");
        public void Rotate(Vector3 eulers) => throw new NotSupportedException("stand-in");
    }

    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 operator *(Vector3 a, float d) => throw new NotSupportedException("stand-in");
    }

    public struct Quaternion
    {
        public static Quaternion Euler(float x, float y, float z) => throw new NotSupportedException("stand-in");
    }

    public struct Color
    {
        public static Color HSVToRGB(float h, float s, float v) => throw new NotSupportedException("stand-in");
    }

    public static class Mathf
    {
        public const float PI = 3.14159274f;
        public static float Sin(float f) => throw new NotSupportedException("stand-in");
        public static float Cos(float f) => throw new NotSupportedException("stand-in");
    }

    public class Material : Object
    {
        public Color color { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
    }

    public class Renderer : Component
    {
        public Material material { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
    }

    public enum LightType { Spot = 0, Directional = 1, Point = 2 }

    public sealed class Light : Behaviour
    {
        public LightType type { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
    }

    public enum StereoTargetEyeMask { None = 0, Left = 1, Right = 2, Both = 3 }

    public sealed class Camera : Behaviour
    {
        public enum MonoOrStereoscopicEye { Left = 0, Right = 1, Mono = 2 }
        public bool stereoEnabled => throw new NotSupportedException("stand-in");
        public MonoOrStereoscopicEye stereoActiveEye => throw new NotSupportedException("stand-in");
        public float nearClipPlane { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public StereoTargetEyeMask stereoTargetEye { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
    }

    public enum TextureFormat { RGBA32 = 4, BGRA32 = 14 }

    public class Texture : Object
    {
        public virtual int width { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public virtual int height { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public virtual Rendering.TextureDimension dimension { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height) => throw new NotSupportedException("stand-in");
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain, bool linear)
            => throw new NotSupportedException("stand-in");
        public void LoadRawTextureData(IntPtr data, int size) => throw new NotSupportedException("stand-in");
        public void Apply(bool updateMipmaps) => throw new NotSupportedException("stand-in");
    }

    public sealed class Texture2DArray : Texture
    {
        public Texture2DArray(int width, int height, int depth, TextureFormat textureFormat, bool mipChain, bool linear)
            => throw new NotSupportedException("stand-in");
        public void SetPixelData<T>(NativeArray<T> data, int mipLevel, int element, int sourceDataStartIndex = 0)
            where T : struct => throw new NotSupportedException("stand-in");
        public void Apply(bool updateMipmaps) => throw new NotSupportedException("stand-in");
    }

    public class RenderTexture : Texture
    {
        public int volumeDepth { get => throw new NotSupportedException("stand-in"); set => throw new NotSupportedException("stand-in"); }
        public bool sRGB => throw new NotSupportedException("stand-in");
    }

    public static class Graphics
    {
        public static void Blit(Texture source, RenderTexture dest) => throw new NotSupportedException("stand-in");
        public static void Blit(Texture source, RenderTexture dest, int sourceDepthSlice, int destDepthSlice)
            => throw new NotSupportedException("stand-in");
    }

    public static class ImageConversion
    {
        public static bool LoadImage(Texture2D tex, byte[] data) => throw new NotSupportedException("stand-in");
        public static byte[] EncodeArrayToJPG(Array array, Experimental.Rendering.GraphicsFormat format, uint width,
                                              uint height, uint rowBytes = 0, int quality = 75)
            => throw new NotSupportedException("stand-in");
    }

    public enum ColorSpace { Uninitialized = -1, Gamma = 0, Linear = 1 }

    public sealed class QualitySettings : Object
    {
        public static ColorSpace activeColorSpace => throw new NotSupportedException("stand-in");
    }

    public enum RuntimePlatform { LinuxPlayer = 13, WindowsPlayer = 2, Android = 11 }

    public static class Application
    {
        public static RuntimePlatform platform => throw new NotSupportedException("stand-in");
        public static bool isPlaying => throw new NotSupportedException("stand-in");
    }

    public static class Time
    {
        public static float deltaTime => throw new NotSupportedException("stand-in");
        public static float realtimeSinceStartup => throw new NotSupportedException("stand-in");
    }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute
    {
        public RequireComponent(Type requiredComponent) { }
    }

    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }

    public class PropertyAttribute : Attribute { }

    public sealed class TooltipAttribute : PropertyAttribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    public sealed class RangeAttribute : PropertyAttribute
    {
        public RangeAttribute(float min, float max) { }
    }

    public sealed class GUILayoutOption { }

    public static class GUILayout
    {
        public static bool Button(string text, params GUILayoutOption[] options) => throw new NotSupportedException("stand-in");
        public static void Label(Texture image, params GUILayoutOption[] options) => throw new NotSupportedException("stand-in");
        public static GUILayoutOption Width(float width) => throw new NotSupportedException("stand-in");
        public static GUILayoutOption Height(float height) => throw new NotSupportedException("stand-in");
    }
}

namespace UnityEngine.Experimental.Rendering
{
    public enum GraphicsFormat { R8G8B8A8_SRGB = 4, R8G8B8A8_UNorm = 8 }
}

namespace UnityEngine.Rendering
{
    using Unity.Collections;

    public enum TextureDimension { Unknown = -1, None = 0, Any = 1, Tex2D = 2, Tex3D = 3, Cube = 4, Tex2DArray = 5 }

    public struct AsyncGPUReadbackRequest
    {
        public bool hasError => throw new NotSupportedException("stand-in");
        public bool done => throw new NotSupportedException("stand-in");
    }

    public static class AsyncGPUReadback
    {
        public static AsyncGPUReadbackRequest RequestIntoNativeArray<T>(
            ref NativeArray<T> output, Texture src, int mipIndex, int x, int width, int y, int height, int z, int depth,
            TextureFormat dstFormat, Action<AsyncGPUReadbackRequest> callback = null) where T : struct
            => throw new NotSupportedException("stand-in");

        public static void WaitAllRequests() => throw new NotSupportedException("stand-in");
    }
}

namespace UnityEngine.XR
{
    public enum XRNode { LeftEye = 0, RightEye = 1, CenterEye = 2, Head = 3 }

    public struct InputFeatureUsage<T> { }

    public static class CommonUsages
    {
        public static InputFeatureUsage<Vector3> centerEyePosition => throw new NotSupportedException("stand-in");
        public static InputFeatureUsage<Quaternion> centerEyeRotation => throw new NotSupportedException("stand-in");
    }

    public struct InputDevice
    {
        public bool isValid => throw new NotSupportedException("stand-in");
        public bool TryGetFeatureValue(InputFeatureUsage<Vector3> usage, out Vector3 value) => throw new NotSupportedException("stand-in");
        public bool TryGetFeatureValue(InputFeatureUsage<Quaternion> usage, out Quaternion value) => throw new NotSupportedException("stand-in");
    }

    public static class InputDevices
    {
        public static InputDevice GetDeviceAtXRNode(XRNode node) => throw new NotSupportedException("stand-in");
    }
}

namespace UnityEditor
{
    using UnityEngine;

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class CustomEditor : Attribute
    {
        public CustomEditor(Type inspectedType) { }
    }

    public class Editor : ScriptableObject
    {
        public Object target => throw new NotSupportedException("stand-in");
        public virtual void OnInspectorGUI() => throw new NotSupportedException("stand-in");
        public bool DrawDefaultInspector() => throw new NotSupportedException("stand-in");
        public void Repaint() => throw new NotSupportedException("stand-in");
    }

    public class ScriptableObject : Object { }

    public enum MessageType { None = 0, Info = 1, Warning = 2, Error = 3 }

    public static class EditorGUILayout
    {
        public static void Space() => throw new NotSupportedException("stand-in");
        public static void LabelField(string label, string label2, params GUILayoutOption[] options) => throw new NotSupportedException("stand-in");
        public static void HelpBox(string message, MessageType type) => throw new NotSupportedException("stand-in");
        public static void BeginHorizontal(params GUILayoutOption[] options) => throw new NotSupportedException("stand-in");
        public static void EndHorizontal() => throw new NotSupportedException("stand-in");
        public static void BeginVertical(params GUILayoutOption[] options) => throw new NotSupportedException("stand-in");
        public static void EndVertical() => throw new NotSupportedException("stand-in");
    }

    public static class Undo
    {
        public static void RecordObject(Object objectToUndo, string name) => throw new NotSupportedException("stand-in");
    }

    public static class EditorUtility
    {
        public static void SetDirty(Object target) => throw new NotSupportedException("stand-in");
    }
}
