// The managed gRPC client (Runtime/Managed) driven from tests/test_unity_managed.py under Mono,
// against a real server: one command a run, results printed (and reply JPEGs written) for the
// Python side to check. Exit status 0 unless a check here failed or an exception escaped.
//
//   fields                                      field numbers/types, enum values (contract test)
//   styles ADDRESS [TOKEN]                      ListStyles
//   list ADDRESS                                ArtemStyles.List (native core, else managed client)
//   stream ADDRESS STYLE IN.jpg W H VIEWS N OUT [TOKEN]   N frames, one at a time; replies to OUT
//   burst ADDRESS STYLE IN.jpg W H N            N frames sent at once, replies read until the last
//   link ADDRESS STYLE DIR FRAMES               StylizerLink over the managed client, render loop
//   refuse ADDRESS STYLE IN.jpg W H             unknown style; a frame of the wrong size
//   open ADDRESS [TOKEN]                        open a stream in identity (errors printed)
//   forever ADDRESS IN.jpg W H [PING_AFTER_MS PING_TIMEOUT_MS]   frames until the stream fails
//   idle ADDRESS IN.jpg W H SECONDS PING_AFTER_MS PING_TIMEOUT_MS   a frame after an idle spell
//   hpack TABLE_SIZE HEX...                    header blocks decoded in turn by one decoder
//   bench ADDRESS LEFT.jpg RIGHT.jpg W H FRAMES WARMUP   identity round trips, one in flight (fps)
//   tls ADDRESS SERVER.der                      ListStyles over TLS, the server's certificate
// pinned
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using ArtEm;

static class ManagedClientTest
{
    static int failures;

    static void Check(bool ok, string what)
    {
        if (ok) return;
        failures++;
        Console.WriteLine("FAILED: " + what);
    }

    static GrpcOptions Options(string[] a, int at) =>
        new GrpcOptions { Token = a.Length > at ? a[at] : null, ConnectTimeoutMs = 5000 };

    static JpegView[] Views(byte[] jpeg, int w, int h, int n) =>
        Enumerable.Range(0, n)
            .Select(_ => new JpegView { Width = w, Height = h, Jpeg = jpeg })
            .ToArray();

    static int Main(string[] a)
    {
        try
        {
            switch (a[0])
            {
                case "fields": Fields(); break;
                case "styles": Styles(a); break;
                case "list": List(a); break;
                case "stream": Stream(a); break;
                case "burst": Burst(a); break;
                case "link": Link(a); break;
                case "refuse": Refuse(a); break;
                case "open": Open(a); break;
                case "forever": Forever(a); break;
                case "idle": Idle(a); break;
                case "tls": Tls(a); break;
                case "bench": Bench(a); break;
                case "hpack": Hpack(a); break;
                default: throw new ArgumentException("unknown command " + a[0]);
            }
        }
        catch (ArtemException e)
        {
            Console.WriteLine($"error {e.Code}: {e.Message}");
            return 2;
        }
        if (failures == 0) Console.WriteLine("all checks passed");
        return failures == 0 ? 0 : 1;
    }

    static void Fields()
    {
        foreach (string line in ProtoFields.Describe()) Console.WriteLine("field " + line);
        foreach (PixelFormat f in Enum.GetValues(typeof(PixelFormat)))
            Console.WriteLine($"enum artem.v1.PixelFormat {f} {(int)f}");
    }

    static void Styles(string[] a)
    {
        using (var client = new ManagedStylizerClient(a[1], Options(a, 2)))
            foreach (StyleEntry s in client.ListStyles())
                Console.WriteLine($"style {s.Id} {s.Kind} {s.ThumbnailPng.Length} {s.DisplayName}");
    }

    static void List(string[] a)
    {
        StyleEntry[] styles = ArtemStyles.List(a[1]);
        Console.WriteLine($"native core loads: {ArtemNative.Loads()}");
        foreach (StyleEntry s in styles)
            Console.WriteLine($"style {s.Id} {s.Kind} {s.ThumbnailPng.Length} {s.DisplayName}");
    }

    static void Stream(string[] a)
    {
        byte[] jpeg = File.ReadAllBytes(a[3]);
        int w = int.Parse(a[4]), h = int.Parse(a[5]), views = int.Parse(a[6]), n = int.Parse(a[7]);
        using (var client = new ManagedStylizerClient(a[1], Options(a, 9)))
        using (JpegStylizeStream stream = client.Stylize(a[2]))
        {
            SessionReply session = stream.Session;
            Console.WriteLine($"session {session.Style} {session.Kind} " +
                              $"quality {session.JpegQuality}");
            for (ulong id = 1; id <= (ulong)n; id++)
            {
                stream.Send(id, Views(jpeg, w, h, views));
                Check(stream.TryReceive(out FrameReply r, 60000), $"no reply to frame {id}");
                Check(r.Id == id && r.Code == 0 && r.Jpegs.Length == views,
                    $"frame {id}: {r.Id} {r.Code} {r.Message}");
                Check(r.Style == a[2], $"reply style {r.Style}");
                for (int v = 0; v < r.Jpegs.Length; v++)
                    File.WriteAllBytes(Path.Combine(a[8], $"reply-{id}-{v}.jpg"), r.Jpegs[v]);
            }
        }
    }

    static void Burst(string[] a)
    {
        byte[] jpeg = File.ReadAllBytes(a[3]);
        int w = int.Parse(a[4]), h = int.Parse(a[5]), n = int.Parse(a[6]);
        using (var client = new ManagedStylizerClient(a[1]))
        using (JpegStylizeStream stream = client.Stylize(a[2]))
        {
            for (ulong id = 1; id <= (ulong)n; id++) stream.Send(id, Views(jpeg, w, h, 2));
            ulong last = 0;
            long dropped = 0, replies = 0;
            while (last < (ulong)n)
            {
                Check(stream.TryReceive(out FrameReply r, 60000), $"no reply after frame {last}");
                if (r == null) return;
                Check(r.Id > last && r.Code == 0, $"reply {r.Id} (code {r.Code}) after {last}");
                last = r.Id;
                dropped += r.DroppedFrames;
                replies++;
            }
            Console.WriteLine($"burst replies {replies} dropped {dropped} last {last}");
            Check(replies + dropped == n, $"{replies} replies + {dropped} dropped != {n} frames");
        }
    }

    // The component's engine-free logic over the managed client: frames "read back" into the
    // slots' memory, a test encoder that finds the slot's pixels among the frames the test made
    // (so it fails when the slot does not hold exactly what was read back), newest reply shown.
    static void Link(string[] a)
    {
        string dir = a[3];
        int count = int.Parse(a[4]);
        var raw = new byte[count][];
        var jpeg = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            raw[i] = File.ReadAllBytes(Path.Combine(dir, $"frame-{i}.rgba"));
            jpeg[i] = File.ReadAllBytes(Path.Combine(dir, $"frame-{i}.jpg"));
        }
        int side = (int)Math.Sqrt(raw[0].Length / 4);
        int encoded = 0;
        JpegEncoder encoder = (pixels, view, quality) =>
        {
            Check(view.Width == side && view.Height == side && quality == 90, "encoder's view");
            for (int i = 0; i < count; i++)
                if (pixels.SequenceEqual(raw[i]))
                {
                    System.Threading.Interlocked.Increment(ref encoded);
                    return jpeg[i];
                }
            throw new
                InvalidOperationException("the slot holds none of the frames read back into it");
        };
        var layout = StereoLayout.Of(true, 2, true, side, side);
        using (var link = new StylizerLink(a[1], a[2], 1f, Transport.Inline, layout, false, 3,
            encoder))
        {
            Check(link.Managed && link.Transport == Transport.Jpeg, "managed link carries JPEG");
            var clock = Stopwatch.StartNew();
            while (link.State == LinkState.Connecting && clock.ElapsedMilliseconds < 30000)
            {
                link.Update();
                System.Threading.Thread.Sleep(5);
            }
            Check(link.State == LinkState.Streaming, "streaming: " + link.Summary);
            Console.WriteLine("connected: " + link.Summary);
            ulong lastShown = 0;
            // frame id: the test frame read back into it
            var frameOf = new Dictionary<ulong, int>();
            ulong nextId = 1;
            int shown = 0;
            for (int tick = 0; tick < 60 || link.Slots.InState(SlotState.Out) > 0; tick++)
            {
                Check(clock.ElapsedMilliseconds < 120000, "the render loop did not finish");
                if (clock.ElapsedMilliseconds >= 120000) break;
                if (tick < 60)
                {
                    int slot = link.BeginFrame();  // never waits: -1 when every slot is out
                    if (slot >= 0)
                    {
                        int which = tick % count;
                        for (int eye = 0; eye < 2; eye++)
                            Marshal.Copy(raw[which], 0, link.RequestView(slot, eye),
                                raw[which].Length);
                        frameOf[nextId++] = which;
                        link.EyeRead(slot);
                        link.EyeRead(slot);
                    }
                }
                if (link.TakeNewest(out FrameInfo newest))
                {
                    Check(newest.Id > lastShown, $"shown {newest.Id} after {lastShown}");
                    lastShown = newest.Id;
                    shown++;
                    int which = frameOf[newest.Id];
                    for (int eye = 0; eye < 2; eye++)
                        File.WriteAllBytes(Path.Combine(dir,
                            $"shown-{newest.Id}-{which}-{eye}.jpg"),
                                           link.ReplyJpeg((int)newest.Slot, eye));
                }
                Check(link.State == LinkState.Streaming, "still streaming: " + link.Summary);
                if (link.State != LinkState.Streaming) break;
                System.Threading.Thread.Sleep(11);  // a 90 Hz render loop
            }
            Console.WriteLine($"link shown {shown} last {lastShown} sent {nextId - 1} " +
                              $"encoded {encoded} skipped {link.Slots.Skipped} " +
                              $"dropped {link.FramesDropped}: {link.Summary}");
            Check(lastShown == nextId - 1, "the last frame sent is shown");
            Check(link.Slots.InState(SlotState.Free) == 3, "every slot free at the end");
            bool switched = link.SetStyle("identity", 1f);
            Check(switched && link.Style == "identity", "style switch on the same stream");
            Check(!link.SetStyle("no-such-style", 1f) && link.Message.Contains("no-such-style"),
                  "refused switch keeps streaming: " + link.Message);
            Check(link.State == LinkState.Streaming, "streaming after a refused switch");
        }
    }

    static void Refuse(string[] a)
    {
        byte[] jpeg = File.ReadAllBytes(a[3]);
        int w = int.Parse(a[4]), h = int.Parse(a[5]);
        using (var client = new ManagedStylizerClient(a[1]))
        {
            try
            {
                client.Stylize("no-such-style").Dispose();
                Check(false, "an unknown style was accepted");
            }
            catch (ArtemException e)
            {
                Console.WriteLine($"refused style {e.Code}: {e.Message}");
            }
            using (JpegStylizeStream stream = client.Stylize(a[2]))
            {
                stream.Send(1, Views(jpeg, w + 8, h, 1));  // says 8 pixels wider than the JPEG is
                Check(stream.TryReceive(out FrameReply bad, 60000), "no answer to the bad frame");
                Console.WriteLine($"refused frame {bad.Id} {bad.Code}: {bad.Message}");
                stream.Send(2, Views(jpeg, w, h, 1));  // the stream goes on
                Check(stream.TryReceive(out FrameReply good, 60000) && good.Code == 0
                    && good.Id == 2,
                      "a good frame after the refused one");
                try
                {
                    stream.SetStyle("no-such-style");
                    Check(false, "an unknown style switch was accepted");
                }
                catch (ArtemException e)
                {
                    Console.WriteLine($"refused switch {e.Code}: {e.Message}");
                }
                stream.Send(3, Views(jpeg, w, h, 1));
                Check(stream.TryReceive(out FrameReply after, 60000) && after.Code == 0
                    && after.Style == a[2],
                      "the old style stays after a refused switch");
            }
        }
    }

    static void Open(string[] a)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using (var client = new ManagedStylizerClient(a[1], Options(a, 2)))
            using (JpegStylizeStream stream = client.Stylize("identity"))
                Console.WriteLine($"opened {stream.Session.Style}");
        }
        finally
        {
            Console.WriteLine($"after {clock.ElapsedMilliseconds} ms");
        }
    }

    static void Tls(string[] a)
    {
        var options = new GrpcOptions
        {
            Tls = true,
            ServerName = a[3],
            ConnectTimeoutMs = 10000,
            ValidateCertificate = GrpcOptions.TrustingCaFile(a[2]),
        };
        using (var client = new ManagedStylizerClient(a[1], options))
            Console.WriteLine($"tls styles {client.ListStyles().Length}");
    }

    // The client's share of a JPEG round trip: the eyes are JPEG already (the engine encodes
    // them), replies are not decoded (the engine decodes them). bench/managed_client.py.
    static void Bench(string[] a)
    {
        var eyes = new[] { File.ReadAllBytes(a[2]), File.ReadAllBytes(a[3]) };
        int w = int.Parse(a[4]), h = int.Parse(a[5]);
        int frames = int.Parse(a[6]), warmup = int.Parse(a[7]);
        using (var client = new ManagedStylizerClient(a[1]))
        using (JpegStylizeStream stream = client.Stylize("identity"))
        {
            var clock = new Stopwatch();
            for (int i = 0; i < warmup + frames; i++)
            {
                if (i == warmup) clock.Start();
                var views = new[] { new JpegView { Width = w, Height = h, Jpeg = eyes[0] },
                                    new JpegView { Width = w, Height = h, Jpeg = eyes[1] } };
                stream.Send((ulong)i + 1, views);
                Check(stream.TryReceive(out FrameReply r, 120000) && r.Code == 0
                    && r.Jpegs.Length == 2,
                      $"frame {i + 1}");
            }
            Console.WriteLine($"managed {frames / clock.Elapsed.TotalSeconds:F2} fps");
        }
    }

    // A live server that says nothing for a while (no frames sent) answers the ping, and the
    // stream goes on.
    static void Idle(string[] a)
    {
        byte[] jpeg = File.ReadAllBytes(a[2]);
        int w = int.Parse(a[3]), h = int.Parse(a[4]);
        var options = new GrpcOptions
        {
            PingAfterMs = int.Parse(a[6]),
            PingTimeoutMs = int.Parse(a[7]),
        };
        using (var client = new ManagedStylizerClient(a[1], options))
        using (JpegStylizeStream stream = client.Stylize("identity"))
        {
            System.Threading.Thread.Sleep(int.Parse(a[5]) * 1000);
            stream.Send(1, Views(jpeg, w, h, 1));
            Check(stream.TryReceive(out FrameReply r, 60000) && r.Code == 0,
                  "a reply after idling");
            Console.WriteLine("idle then frame ok");
        }
    }

    static void Hpack(string[] a)
    {
        var decoder = new HpackDecoder(int.Parse(a[1]));
        for (int i = 2; i < a.Length; i++)
        {
            string hex = a[i].Replace(" ", "");
            var block = new byte[hex.Length / 2];
            for (int k = 0; k < block.Length; k++)
                block[k] = Convert.ToByte(hex.Substring(2 * k, 2), 16);
            var headers = new List<KeyValuePair<string, string>>();
            if (!decoder.Decode(block, block.Length, headers))
            {
                Console.WriteLine($"block {i - 1} malformed");
                continue;
            }
            Console.WriteLine($"block {i - 1} size {decoder.TableSize}");
            foreach (KeyValuePair<string, string> h in headers)
                Console.WriteLine($"{h.Key}: {h.Value}");
        }
    }

    static void Forever(string[] a)
    {
        byte[] jpeg = File.ReadAllBytes(a[2]);
        int w = int.Parse(a[3]), h = int.Parse(a[4]);
        var options = new GrpcOptions();
        if (a.Length > 6)
        {
            options.PingAfterMs = int.Parse(a[5]);
            options.PingTimeoutMs = int.Parse(a[6]);
        }
        using (var client = new ManagedStylizerClient(a[1], options))
        using (JpegStylizeStream stream = client.Stylize("identity"))
        {
            for (ulong id = 1; ; id++)
            {
                stream.Send(id, Views(jpeg, w, h, 2));
                while (!stream.TryReceive(out FrameReply r, 1000)) { }
                Console.WriteLine($"frame {id}");
            }
        }
    }
}
