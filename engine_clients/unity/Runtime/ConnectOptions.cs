// How to reach a server started with `artem serve --token-file` and/or `--tls-cert/--tls-key`:
// the bearer token every call carries, and the CA file that turns TLS on. Components name files,
// so that neither the token nor the certificate sits in a scene or prefab.
using System;
using System.IO;
using System.Runtime.InteropServices;

namespace ArtEm
{
    public sealed class ConnectOptions
    {
        /// <summary>Sent as <c>authorization: Bearer &lt;token&gt;</c> on every call; null: none.</summary>
        public string Token { get; set; }

        /// <summary>PEM file of the CA that signed the server's certificate (for a self-signed server,
        /// its certificate): TLS with that certificate checked; null: plaintext.</summary>
        public string TlsCaFile { get; set; }

        /// <summary>The name the server's certificate must carry; null: the address's host.</summary>
        public string TlsServerName { get; set; }

        /// <summary>A file holding the token (one line, trimmed as the server reads its own): read at each
        /// connection, when <see cref="Token"/> is null.</summary>
        public string TokenFile { get; set; }

        /// <summary>The token to send: <see cref="Token"/>, else <see cref="TokenFile"/>'s line, else null.
        /// Throws ArgumentException naming a token file that cannot be read or is empty.</summary>
        public string ResolveToken()
        {
            if (!string.IsNullOrEmpty(Token)) return Token;
            if (string.IsNullOrEmpty(TokenFile)) return null;
            string token;
            try
            {
                token = File.ReadAllText(TokenFile).Trim();
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                throw new ArgumentException($"token file {TokenFile}: {e.Message}", nameof(TokenFile), e);
            }
            if (token.Length == 0)
                throw new ArgumentException($"token file {TokenFile} is empty: expected the server's token",
                                            nameof(TokenFile));
            return token;
        }

        /// <summary>
        /// The managed client's options: the token, and TLS when a CA file is set, the server's
        /// certificate checked against that file (<see cref="GrpcOptions.TrustingCaFile"/>).
        /// </summary>
        public GrpcOptions ToManaged() => new GrpcOptions
        {
            Token = ResolveToken(),
            Tls = !string.IsNullOrEmpty(TlsCaFile),
            ServerName = string.IsNullOrEmpty(TlsServerName) ? null : TlsServerName,
            ValidateCertificate = string.IsNullOrEmpty(TlsCaFile) ? null : GrpcOptions.TrustingCaFile(TlsCaFile),
        };

        internal static ConnectOptionsNative ToNative(ConnectOptions options) => new ConnectOptionsNative
        {
            StructSize = (uint)Marshal.SizeOf<ConnectOptionsNative>(),
            Token = options?.ResolveToken(),
            TlsCaFile = string.IsNullOrEmpty(options?.TlsCaFile) ? null : options.TlsCaFile,
            TlsServerName = string.IsNullOrEmpty(options?.TlsServerName) ? null : options.TlsServerName,
        };
    }
}
