// The ArtemStylizer inspector: the component's settings, the stream's state and latency while
// playing, and the server's styles with their thumbnails, one button each to pick one. Compiled
// here against a stand-in of the editor API; it has not run inside the Unity editor.
using System;
using UnityEditor;
using UnityEngine;

namespace ArtEm.Editor
{
    [CustomEditor(typeof(ArtemStylizer))]
    public sealed class ArtemStylizerEditor : UnityEditor.Editor
    {
        const int Thumb = 64;
        StyleEntry[] styles;
        Texture2D[] thumbnails;
        string listMessage;

        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var stylizer = (ArtemStylizer)target;
            EditorGUILayout.Space();
            if (Application.isPlaying)
            {
                EditorGUILayout.LabelField("Stream", stylizer.Status);
                Repaint();  // latency and counters change every frame
            }
            if (GUILayout.Button("List the server's styles")) List(stylizer);
            if (!string.IsNullOrEmpty(listMessage)) EditorGUILayout.HelpBox(listMessage, MessageType.Warning);
            if (styles == null) return;
            for (int i = 0; i < styles.Length; i++)
            {
                StyleEntry s = styles[i];
                EditorGUILayout.BeginHorizontal();
                GUILayout.Label(thumbnails[i], GUILayout.Width(Thumb), GUILayout.Height(Thumb));
                EditorGUILayout.BeginVertical();
                EditorGUILayout.LabelField(s.DisplayName, $"{s.Id} ({s.Kind})");
                bool chosen = s.Id == stylizer.style;
                if (GUILayout.Button(chosen ? "In use" : "Use this style") && !chosen)
                {
                    Undo.RecordObject(stylizer, "Choose ArtEm style");
                    stylizer.style = s.Id;
                    EditorUtility.SetDirty(stylizer);
                }
                EditorGUILayout.EndVertical();
                EditorGUILayout.EndHorizontal();
            }
        }

        /// <summary>Asks the server for its styles (waits up to 3 s: a button press, not every frame).</summary>
        void List(ArtemStylizer stylizer)
        {
            string address = stylizer.address;
            DestroyThumbnails();
            listMessage = null;
            try
            {
                styles = ArtemStyles.List(address, 3000, stylizer.ConnectOptions());
                thumbnails = new Texture2D[styles.Length];
                for (int i = 0; i < styles.Length; i++)
                {
                    thumbnails[i] = new Texture2D(2, 2);
                    byte[] png = styles[i].ThumbnailPng;
                    if (png.Length > 0) ImageConversion.LoadImage(thumbnails[i], png);
                }
                if (styles.Length == 0) listMessage = $"{address} offers no styles";
            }
            catch (ArtemException e)
            {
                styles = null;
                listMessage = $"{address}: {e.Message} (code {e.Code})";
            }
            catch (ArgumentException e)  // an unreadable token file
            {
                styles = null;
                listMessage = e.Message;
            }
            catch (DllNotFoundException e)
            {
                styles = null;
                listMessage = "the native plugin (artem_native) is not in the project: " + e.Message;
            }
        }

        void OnDisable() => DestroyThumbnails();

        void DestroyThumbnails()
        {
            if (thumbnails != null) foreach (Texture2D t in thumbnails) DestroyImmediate(t);
            thumbnails = null;
        }
    }
}
