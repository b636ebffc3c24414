// The binding against a server started with --tls-cert/--tls-key --token-file, as a Unity scene
// reaches one through ConnectOptions (a token file, a CA file); run by tests/test_unity_binding.py
// under Mono. Prints one line per check and exits 1 on the first failure.
//
//     mono Secured.exe TLS_HOST:PORT PLAIN_HOST:PORT TOKEN_FILE CA_FILE OTHER_CA_FILE
//
// PLAIN_HOST:PORT is a plaintext server; OTHER_CA_FILE a CA that did not sign the TLS server's
// certificate.
using System;
using System.Linq;
using ArtEm;

static class Secured
{
    static void Check(bool ok, string what)
    {
        Console.WriteLine((ok ? "ok   " : "FAIL ") + what);
        if (!ok) Environment.Exit(1);
    }

    static void Refused(Func<object> open, int code, string text, string what)
    {
        try
        {
            open();
            Check(false, what + " is refused");
        }
        catch (ArtemException e)
        {
            Check(e.Code == code && e.Message.Contains(text), $"{what}: code {e.Code}, {e.Message}");
        }
    }

    static int Main(string[] args)
    {
        if (args.Length != 5)
        {
            Console.Error.WriteLine(
                "usage: Secured.exe TLS_HOST:PORT PLAIN_HOST:PORT TOKEN_FILE CA_FILE OTHER_CA_FILE");
            return 64;
        }
        string tls = args[0], plain = args[1], tokenFile = args[2], ca = args[3], otherCa = args[4];
        var options = new ConnectOptions { TokenFile = tokenFile, TlsCaFile = ca };
        var eyes = new[] { new ViewDesc(37, 23, PixelFormat.Rgba8), new ViewDesc(37, 23, PixelFormat.Rgba8) };
        var left = Enumerable.Range(0, 37 * 23 * 4).Select(i => (byte)(i * 7 % 251)).ToArray();
        var right = left.Select(b => (byte)(255 - b)).ToArray();
        using (var session = new ArtemSession(tls, "identity", 1f, eyes, 2, Transport.Inline, options))
        {
            for (int f = 0; f < 3; f++)
            {
                session.WriteRequest(f % 2, 0, left);
                session.WriteRequest(f % 2, 1, right);
                FrameInfo info = session.Stylize((ulong)(f + 1), f % 2);
                Check(info.Id == (ulong)(f + 1) && session.ReadReply(f % 2, 0).SequenceEqual(left) &&
                      session.ReadReply(f % 2, 1).SequenceEqual(right),
                      $"frame {f + 1} over TLS with the token: both eyes unchanged");
            }
        }
        Check(ArtemStyles.List(tls, 10000, options).Any(s => s.Id == "identity"), "ListStyles over TLS with the token");

        var link = new StylizerLink(tls, "identity", 1f, Transport.Inline, StereoLayout.Of(false, 1, false, 16, 8),
                                    false, 2, options: options);
        for (int i = 0; i < 1000 && link.State == LinkState.Connecting; i++)
        {
            System.Threading.Thread.Sleep(10);
            link.Update();
        }
        Check(link.State == LinkState.Streaming, $"the component's link streams over TLS ({link.Message})");
        link.Dispose();

        var noToken = new ConnectOptions { TlsCaFile = ca };
        Refused(() => new ArtemSession(tls, "identity", 1f, eyes, 2, Transport.Inline, noToken), 16,
                "authorization: Bearer", "no token");
        var wrongToken = new ConnectOptions { Token = "not-the-token-at-all", TlsCaFile = ca };
        Refused(() => ArtemStyles.List(tls, 10000, wrongToken),
                16, "authorization: Bearer", "a wrong token (ListStyles)");
        Refused(() => new ArtemSession(tls, "identity", 1f, eyes, 2, Transport.Inline,
                                       new ConnectOptions { TokenFile = tokenFile, TlsCaFile = otherCa }),
                14, "certificate was refused", "a CA that did not sign the server's certificate");
        Refused(() => new ArtemSession(tls, "identity", 1f, eyes, 2, Transport.Inline,
                                       new ConnectOptions { TokenFile = tokenFile }),
                14, "did not answer in HTTP/2", "plaintext to the TLS server");
        Refused(() => new ArtemSession(plain, "identity", 1f, eyes, 2, Transport.Inline, options), 14,
                "did not answer in TLS", "TLS to a plaintext server");
        try
        {
            new ArtemSession(tls, "identity", 1f, eyes, 2, Transport.Inline,
                             new ConnectOptions { TokenFile = tokenFile + ".missing", TlsCaFile = ca });
            Check(false, "a missing token file is refused");
        }
        catch (ArgumentException e)
        {
            Check(e.Message.Contains(tokenFile + ".missing"), $"missing token file: {e.Message}");
        }
        Console.WriteLine("all checks passed");
        return 0;
    }
}
