// Drives ArtemSession (the package's binding) against a running server, as a Unity scene would
// through the same P/Invoke layer; run by tests/test_unity_binding.py under Mono. Prints one
// line per check and exits 1 on the first failure.
//
//     mono RoundTrip.exe HOST:PORT STYLE     (STYLE: a style of that server that changes pixels)
using System;
using System.Linq;
using ArtEm;

static class RoundTrip
{
    static void Check(bool ok, string what)
    {
        Console.WriteLine((ok ? "ok   " : "FAIL ") + what);
        if (!ok) Environment.Exit(1);
    }

    static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: RoundTrip.exe HOST:PORT STYLE (a style of that server, not identity)");
            return 64;
        }
        string address = args[0], style = args[1];
        var eyes = new[] { new ViewDesc(37, 23, PixelFormat.Rgba8), new ViewDesc(37, 23, PixelFormat.Rgba8) };
        var left = Enumerable.Range(0, 37 * 23 * 4).Select(i => (byte)(i * 7 % 251)).ToArray();
        var right = left.Select(b => (byte)(255 - b)).ToArray();
        using (var session = new ArtemSession(address, "identity", 1f, eyes, slots: 2))
        {
            for (int f = 0; f < 4; f++)
            {
                int slot = f % session.SlotCount;
                session.WriteRequest(slot, 0, left);
                session.WriteRequest(slot, 1, right);
                FrameInfo info = session.Stylize((ulong)(f + 1), slot);
                Check(info.Id == (ulong)(f + 1), $"frame {f + 1} answered");
                Check(session.ReadReply(slot, 0).SequenceEqual(left) && session.ReadReply(slot, 1).SequenceEqual(right),
                      $"frame {f + 1}: identity returns both eyes unchanged");
            }
            // a render thread's way: two frames out at once, replies picked up as they come
            session.Send(20, 0);
            session.Send(21, 1);
            int seen = 0;
            ulong last = 0;
            while (last != 21)
            {
                if (!session.TryReceive(out FrameInfo got, out string refusal, timeoutMs: 10000))
                    Check(false, "a reply within 10 s");
                Check(got.Code == 0 && got.Slot == (uint)(got.Id - 20), $"frame {got.Id} from slot {got.Slot}");
                last = got.Id;
                seen += 1 + (int)got.DroppedFrames;
            }
            Check(seen == 2 && session.ReadReply(1, 1).SequenceEqual(right), "both frames accounted for, pixels intact");
            Check(!session.TryReceive(out _, out _, timeoutMs: 0), "nothing more to receive");

            session.SetStyle(style, 1f);
            FrameInfo styled = session.Stylize(10, 0);
            byte[] stylized = session.ReadReply(0, 0);
            int changed = Enumerable.Range(0, left.Length).Count(i => i % 4 != 3 && stylized[i] != left[i]);
            Check(changed > left.Length / 2 && styled.ModelMs > 0, $"{style} changes the pixels; the server timed its model");
            Check(Enumerable.Range(0, left.Length / 4).All(p => stylized[p * 4 + 3] == left[p * 4 + 3]), "alpha kept");
            try
            {
                session.SetStyle("no-such-style");
                Check(false, "an unknown style is refused");
            }
            catch (ArtemException e)
            {
                Check(e.Code == 5 && e.Message.Contains("config.style"), $"unknown style: code {e.Code}, {e.Message}");
            }
            try
            {
                session.Stylize(11, 5);
                Check(false, "a slot out of range is refused");
            }
            catch (ArtemException e)
            {
                Check(e.Code == 3 && e.Message.Contains("slot 5"), $"slot out of range: code {e.Code}, {e.Message}");
            }
        }
        try
        {
            new ArtemSession(address, "identity", 1f, new[] { new ViewDesc(8, 8, (PixelFormat)9) });
            Check(false, "a bad pixel format is refused");
        }
        catch (ArtemException e)
        {
            Check(e.Code == 3 && e.Message.Contains("format = 9"), $"bad format: code {e.Code}, {e.Message}");
        }
        Console.WriteLine("all checks passed");
        return 0;
    }
}
