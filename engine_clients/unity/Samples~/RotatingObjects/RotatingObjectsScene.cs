// Builds the sample scene from an empty one: a ring of rotating objects on a floor under a sun,
// seen through a VR rig (a rig root at the floor, a head camera that follows the headset) whose
// camera carries ArtemStylizer. Put this on an empty GameObject in an empty scene and press Play.
// Compiled here against a stand-in of the Unity API; it has not run inside Unity.
using ArtEm;
using UnityEngine;
using UnityEngine.XR;

namespace ArtEm.Samples
{
    public sealed class RotatingObjectsScene : MonoBehaviour
    {
        public string serverAddress = "127.0.0.1:50051";
        public string style = "identity";
        public int objects = 8;
        public float ringRadius = 3f;

        void Awake()
        {
            var sun = new GameObject("Sun").AddComponent<Light>();
            sun.type = LightType.Directional;
            sun.transform.rotation = Quaternion.Euler(50f, -30f, 0f);

            GameObject floor = GameObject.CreatePrimitive(PrimitiveType.Plane);
            floor.name = "Floor";
            floor.transform.localScale = new Vector3(3f, 1f, 3f);

            PrimitiveType[] shapes =
                { PrimitiveType.Cube, PrimitiveType.Sphere, PrimitiveType.Capsule, PrimitiveType.Cylinder };
            for (int i = 0; i < objects; i++)
            {
                float angle = i * 2f * Mathf.PI / objects;
                GameObject o = GameObject.CreatePrimitive(shapes[i % shapes.Length]);
                o.name = $"Rotating {i}";
                o.transform.position = new Vector3(Mathf.Sin(angle) * ringRadius, 1.2f, Mathf.Cos(angle) * ringRadius);
                o.GetComponent<Renderer>().material.color = Color.HSVToRGB((float)i / objects, 0.7f, 0.9f);
                o.AddComponent<Spin>().degreesPerSecond = new Vector3(15f + 10f * i, 30f, 5f * i);
            }

            var rig = new GameObject("VR Rig");  // the tracking origin: the floor
            var head = new GameObject("Head Camera");
            head.transform.SetParent(rig.transform, false);
            head.transform.localPosition = new Vector3(0f, 1.6f, 0f);  // until the headset reports a pose
            head.tag = "MainCamera";
            Camera camera = head.AddComponent<Camera>();
            camera.nearClipPlane = 0.05f;
            camera.stereoTargetEye = StereoTargetEyeMask.Both;
            head.AddComponent<HeadPose>();
            ArtemStylizer stylizer = head.AddComponent<ArtemStylizer>();
            stylizer.address = serverAddress;
            stylizer.style = style;
        }
    }

    /// <summary>Turns its object at a steady rate.</summary>
    public sealed class Spin : MonoBehaviour
    {
        public Vector3 degreesPerSecond = new Vector3(0f, 45f, 0f);

        void Update() => transform.Rotate(degreesPerSecond * Time.deltaTime);
    }

    /// <summary>Moves the head camera with the headset (Unity's XR input); without one it stays put.</summary>
    public sealed class HeadPose : MonoBehaviour
    {
        void Update()
        {
            InputDevice headset = InputDevices.GetDeviceAtXRNode(XRNode.Head);
            if (!headset.isValid) return;
            if (headset.TryGetFeatureValue(CommonUsages.centerEyePosition, out Vector3 position))
                transform.localPosition = position;
            if (headset.TryGetFeatureValue(CommonUsages.centerEyeRotation, out Quaternion rotation))
                transform.localRotation = rotation;
        }
    }
}
