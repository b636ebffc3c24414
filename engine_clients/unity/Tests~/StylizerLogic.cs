// The engine-free half of ArtemStylizer (StylizerLink, FrameSlots, StereoLayout, StreamChoices,
// ArtemStyles) driven as the component drives it, against a running server, under Mono; run by
// tests/test_unity_binding.py. Readbacks are simulated by writing each eye into its request
// slot, as AsyncGPUReadback does. Prints one line per check and exits 1 on the first failure.
//
//     mono StylizerLogic.exe HOST:PORT STYLE shm|inline
using System;
using System.Diagnostics;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using ArtEm;

static class StylizerLogic
{
    static void Check(bool ok, string what)
    {
        Console.WriteLine((ok ? "ok   " : "FAIL ") + what);
        if (!ok) Environment.Exit(1);
    }

    static void Throws<T>(Action a, string what) where T : Exception
    {
        try
        {
            a();
            Check(false, what);
        }
        catch (T)
        {
            Check(true, what);
        }
    }

    // An eye of frame `frame`: a pattern that differs per frame and per eye.
    static byte[] Eye(StereoLayout layout, ulong frame, int eye) =>
        Enumerable.Range(0, (int)layout.EyeBytes).Select(i => (byte)((i * 7 + (int)frame * 13 + eye * 101) % 251)).ToArray();

    static StylizerLink Connected(string address, string style, Transport how, StereoLayout layout, int slots)
    {
        var link = new StylizerLink(address, style, 1f, how, layout, false, slots);
        var clock = Stopwatch.StartNew();
        while (link.State == LinkState.Connecting && clock.ElapsedMilliseconds < 20000)
        {
            link.Update();
            Thread.Sleep(5);
        }
        return link;
    }

    static void Layouts()
    {
        StereoLayout spi = StereoLayout.Of(true, 2, true, 64, 32);
        Check(spi.Mode == StereoMode.SinglePassInstanced && spi.Eyes == 2 && spi.EyesPerPass == 2 && spi.SliceOf(1) == 1,
              "a 2-slice texture array is single-pass instanced: both eyes in one pass, one slice each");
        StereoLayout multi = StereoLayout.Of(false, 1, true, 64, 32);
        Check(multi.Mode == StereoMode.MultiPass && multi.Eyes == 2 && multi.EyesPerPass == 1 && multi.SliceOf(1) == 0,
              "a plain texture with stereo on is multi-pass: one eye per pass");
        StereoLayout mono = StereoLayout.Of(false, 1, false, 64, 32);
        Check(mono.Mode == StereoMode.Mono && mono.Views(true).Length == 1 && mono.Views(true)[0].Linear == 1 &&
              mono.EyeBytes == 64 * 32 * 4, "mono: one RGBA8 view");
        Throws<ArgumentException>(() => StereoLayout.Of(true, 3, true, 64, 32), "a 3-slice array is refused");
        Check(spi.Equals(StereoLayout.Of(true, 2, false, 64, 32)) && !spi.Equals(multi), "layouts compare by mode and size");

        Check(StreamChoices.ReadsLinear(true, false) && !StreamChoices.ReadsLinear(true, true) &&
              !StreamChoices.ReadsLinear(false, false) && !StreamChoices.ReadsLinear(false, true),
              "linear only for a non-sRGB target in a Linear project; 8-bit sRGB targets are sent as sRGB");
        Check(StreamChoices.TransportFor(TransportSetting.Automatic, "127.0.0.1:50051", true) == Transport.SharedMemory &&
              StreamChoices.TransportFor(TransportSetting.Automatic, "localhost:50051", true) == Transport.SharedMemory &&
              StreamChoices.TransportFor(TransportSetting.Automatic, "[::1]:50051", true) == Transport.SharedMemory &&
              StreamChoices.TransportFor(TransportSetting.Automatic, "192.168.1.20:50051", true) == Transport.Jpeg &&
              StreamChoices.TransportFor(TransportSetting.Automatic, "gpu-box:50051", false) == Transport.Jpeg &&
              StreamChoices.TransportFor(TransportSetting.Automatic, "127.0.0.1:50051", false) == Transport.Inline &&
              StreamChoices.TransportFor(TransportSetting.SharedMemory, "gpu-box:50051", true) == Transport.SharedMemory &&
              StreamChoices.TransportFor(TransportSetting.Inline, "gpu-box:1", true) == Transport.Inline &&
              StreamChoices.TransportFor(TransportSetting.Jpeg, "127.0.0.1:1", true) == Transport.Jpeg,
              "automatic transport: shared memory on this host where the platform has it, JPEG to another host");
    }

    static void Slots()
    {
        var slots = new FrameSlots(2);
        int a = slots.BeginReadback(2), b = slots.BeginReadback(2);
        Check(a == 0 && b == 1 && slots.BeginReadback(2) == -1 && slots.Skipped == 1,
              "every slot busy: the frame is skipped, not waited for");
        Check(!slots.EyeRead(a) && slots.EyeRead(a), "a stereo frame is complete after both eyes");
        Throws<InvalidOperationException>(() => slots.Send(b), "a frame with an eye still being read cannot go out");
        ulong first = slots.Send(a);
        slots.EyeRead(b);
        slots.EyeRead(b);
        ulong second = slots.Send(b);
        Check(second > first && slots.InState(SlotState.Out) == 2, "ids increase in send order");
        Check(slots.Replied(second, refused: true) == 1 && slots[b] == SlotState.Free && slots[a] == SlotState.Out,
              "a refused frame frees only its own slot");
        int c = slots.BeginReadback(1);
        slots.EyeRead(c);
        ulong third = slots.Send(c);
        Check(slots.Replied(third, refused: false) == 2 && slots.InState(SlotState.Free) == 2,
              "a reply frees its slot and every earlier frame's (latest frame wins)");
        int d = slots.BeginReadback(1);
        slots.Abandon(d);
        Check(slots[d] == SlotState.Free, "a failed readback frees its slot");
    }

    static void Stream(string address, string style, Transport how)
    {
        var layout = new StereoLayout(StereoMode.SinglePassInstanced, 37, 23);
        using (StylizerLink link = Connected(address, "identity", how, layout, slots: 3))
        {
            Check(link.State == LinkState.Streaming, $"connected via {how}: {link.Summary}");
            ulong lastShown = 0;
            int shown = 0, sent = 0, checkedPixels = 0;
            var clock = Stopwatch.StartNew();
            // A render loop faster than the server: a frame each pass, replies taken when there.
            for (int pass = 0; pass < 400 && clock.ElapsedMilliseconds < 60000; pass++)
            {
                if (sent < 60)
                {
                    int slot = link.BeginFrame();
                    if (slot >= 0)
                    {
                        ulong id = (ulong)sent + 1;  // the id FrameSlots gives this frame
                        for (int eye = 0; eye < 2; eye++)
                        {
                            Marshal.Copy(Eye(layout, id, eye), 0, link.RequestView(slot, eye), (int)layout.EyeBytes);
                            link.EyeRead(slot);
                        }
                        sent++;
                    }
                }
                if (link.TakeNewest(out FrameInfo newest))
                {
                    Check(newest.Id > lastShown, $"frame {newest.Id} shown after {lastShown}");
                    lastShown = newest.Id;
                    shown++;
                    for (int eye = 0; eye < 2; eye++)
                    {
                        var got = new byte[layout.EyeBytes];
                        Marshal.Copy(link.ReplyView((int)newest.Slot, eye), got, 0, got.Length);
                        if (!got.SequenceEqual(Eye(layout, newest.Id, eye)))
                            Check(false, $"frame {newest.Id} eye {eye}: the reply holds that frame's pixels");
                        checkedPixels++;
                    }
                }
                if (sent == 60 && link.Slots.InState(SlotState.Out) == 0) break;
                Thread.Sleep(1);
            }
            Check(link.State == LinkState.Streaming && sent == 60 && lastShown == 60,
                  $"60 frames sent, the last one shown ({shown} shown, {link.FramesDropped} dropped, {link.Slots.Skipped} skipped)");
            Check(checkedPixels == 2 * shown && link.Slots.InState(SlotState.Free) == 3,
                  "every shown frame's eyes are its own pixels; every slot free at the end");
            Check(link.RoundTripMs > 0 && link.Summary.Contains("streaming"), "latency measured: " + link.Summary);

            int failed = link.BeginFrame();
            link.ReadbackFailed(failed);
            Check(link.Slots[failed] == SlotState.Free, "a failed readback gives its slot back");

            Check(!link.SetStyle("no-such-style", 1f) && link.Message.Contains("config.style") &&
                  link.State == LinkState.Streaming, "an unknown style is refused, the stream goes on: " + link.Message);
            Check(link.SetStyle(style, 1f) && link.Style == style, $"style switched to {style} on the same stream");
            int s2 = link.BeginFrame();
            for (int eye = 0; eye < 2; eye++)
            {
                Marshal.Copy(Eye(layout, 61, eye), 0, link.RequestView(s2, eye), (int)layout.EyeBytes);
                link.EyeRead(s2);
            }
            var wait = Stopwatch.StartNew();
            FrameInfo styled = default(FrameInfo);
            while (!link.TakeNewest(out styled) && wait.ElapsedMilliseconds < 30000) Thread.Sleep(5);
            var pixels = new byte[layout.EyeBytes];
            Marshal.Copy(link.ReplyView((int)styled.Slot, 0), pixels, 0, pixels.Length);
            byte[] sentEye = Eye(layout, 61, 0);
            int changed = Enumerable.Range(0, pixels.Length).Count(i => i % 4 != 3 && pixels[i] != sentEye[i]);
            Check(styled.Id == 61 && changed > pixels.Length / 2, $"{style} changes the pixels it shows");
        }

        var multi = new StereoLayout(StereoMode.MultiPass, 16, 8);
        using (StylizerLink link = Connected(address, "identity", how, multi, slots: 2))
        {
            int slot = link.BeginFrame();  // left eye's pass
            Marshal.Copy(Eye(multi, 1, 0), 0, link.RequestView(slot, 0), (int)multi.EyeBytes);
            link.EyeRead(slot);
            Check(link.Slots[slot] == SlotState.Reading, "multi-pass: after the left eye the frame waits for the right");
            Marshal.Copy(Eye(multi, 1, 1), 0, link.RequestView(slot, 1), (int)multi.EyeBytes);
            link.EyeRead(slot);  // right eye's pass: the frame goes out
            var wait = Stopwatch.StartNew();
            FrameInfo info = default(FrameInfo);
            while (!link.TakeNewest(out info) && wait.ElapsedMilliseconds < 30000) Thread.Sleep(5);
            var right = new byte[multi.EyeBytes];
            Marshal.Copy(link.ReplyView((int)info.Slot, 1), right, 0, right.Length);
            Check(info.Id == 1 && right.SequenceEqual(Eye(multi, 1, 1)), "multi-pass: both passes' eyes make one frame");
        }
    }

    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: StylizerLogic.exe HOST:PORT STYLE shm|inline");
            return 64;
        }
        string address = args[0], style = args[1];
        Transport how = args[2] == "inline" ? Transport.Inline : Transport.SharedMemory;
        Layouts();
        Slots();
        Stream(address, style, how);

        var small = new StereoLayout(StereoMode.Mono, 32, 16);
        using (StylizerLink link = Connected(address, "identity", Transport.Jpeg, small, 2))
        {
            int slot = link.BeginFrame();
            Marshal.Copy(Enumerable.Repeat((byte)128, (int)small.EyeBytes).ToArray(), 0, link.RequestView(slot, 0),
                         (int)small.EyeBytes);
            link.EyeRead(slot);
            var wait = Stopwatch.StartNew();
            FrameInfo info = default(FrameInfo);
            while (!link.TakeNewest(out info) && wait.ElapsedMilliseconds < 30000) Thread.Sleep(5);
            var back = new byte[small.EyeBytes];
            Marshal.Copy(link.ReplyView((int)info.Slot, 0), back, 0, back.Length);
            Check(info.Id == 1 && Enumerable.Range(0, back.Length).All(i => i % 4 == 3 ? back[i] == 255 : Math.Abs(back[i] - 128) <= 2),
                  "JPEG (a server on another host): a flat grey frame comes back grey, alpha 255");
        }

        StyleEntry[] styles = ArtemStyles.List(address);
        StyleEntry chosen = styles.FirstOrDefault(s => s.Id == style);
        Check(styles.Any(s => s.Id == "identity") && chosen != null && chosen.Kind.Length > 0,
              $"the server lists {styles.Length} styles, {style} among them ({chosen?.Kind})");
        Check(chosen.ThumbnailPng.Length == 0 || chosen.ThumbnailPng.Take(4).SequenceEqual(new byte[] { 0x89, 0x50, 0x4e, 0x47 }),
              $"{style}'s thumbnail is a PNG ({chosen.ThumbnailPng.Length} bytes)");
        try
        {
            ArtemStyles.List("127.0.0.1:1", 2000);
            Check(false, "no server: listing fails");
        }
        catch (ArtemException e)
        {
            Check(e.Code == 14, $"no server: listing fails with code {e.Code}");
        }

        using (StylizerLink link = Connected("127.0.0.1:1", "identity", how, new StereoLayout(StereoMode.Mono, 8, 8), 2))
            Check(link.State == LinkState.Failed && link.Message.Contains("code 14") && link.BeginFrame() == -1,
                  "no server: the link fails, says why, and hands out no slots: " + link.Message);
        Console.WriteLine("all checks passed");
        return 0;
    }
}
