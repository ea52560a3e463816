using System;
using System.Runtime.InteropServices;
using System.Text;

namespace D365fo.Interactive
{
    /// <summary>Makes the native core see the environment variables as this PowerShell session sees them.
    /// On Linux and macOS, .NET keeps its own copy of the environment: `$env:D365FO_AUTHORITY = …` in a session
    /// never reaches getenv() in native code (the core, ureq's proxy and TLS roots, arboard's DISPLAY, webbrowser's
    /// BROWSER). Before each call into the core, the variables it reads are copied down when they differ. On Windows
    /// both sides share the process environment block already.</summary>
    internal static class NativeEnvironment
    {
        private static readonly string[] Names =
        {
            "D365FO_AUTHORITY", "D365FO_ENDPOINT_VERSION", "D365FO_CLIENT_ID", "D365FO_NO_BROWSER", "D365FO_HTTP_TIMEOUT_SECS",
            "D365FO_CONFIG_DIR", "D365FO_TEST_HOOKS",
            "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
            "SSL_CERT_FILE", "SSL_CERT_DIR", "DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "XDG_CONFIG_HOME", "HOME", "APPDATA",
        };

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate IntPtr GetEnvFn(byte[] name);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int SetEnvFn(byte[] name, byte[] value, int overwrite);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int UnsetEnvFn(byte[] name);

        private static readonly object Gate = new object();
        private static GetEnvFn _getenv;
        private static SetEnvFn _setenv;
        private static UnsetEnvFn _unsetenv;
        private static bool _unavailable;

        internal static void Sync()
        {
            if (Platform.IsWindows) return;
            lock (Gate)
            {
                if (!Bind()) return;
                foreach (string name in Names)
                {
                    string managed = Environment.GetEnvironmentVariable(name);
                    byte[] key = Native.Utf8(name);
                    string native = Native.ReadUtf8(_getenv(key));
                    if (managed == native) continue;
                    if (managed == null) _unsetenv(key);
                    else _setenv(key, Native.Utf8(managed), 1);
                }
            }
        }

        private static bool Bind()
        {
            if (_getenv != null) return true;
            if (_unavailable) return false;
            try
            {
                IntPtr libc = Platform.LoadLibrary(Platform.IsMacOS ? "/usr/lib/libSystem.B.dylib" : "libc.so.6");
                _getenv = (GetEnvFn)Marshal.GetDelegateForFunctionPointer(Platform.GetExport(libc, "getenv"), typeof(GetEnvFn));
                _setenv = (SetEnvFn)Marshal.GetDelegateForFunctionPointer(Platform.GetExport(libc, "setenv"), typeof(SetEnvFn));
                _unsetenv = (UnsetEnvFn)Marshal.GetDelegateForFunctionPointer(Platform.GetExport(libc, "unsetenv"), typeof(UnsetEnvFn));
                return true;
            }
            catch (Exception)
            {
                // A libc we cannot reach (e.g. musl names it differently): the core then sees the environment the
                // process started with, which is what it would see without this class.
                _unavailable = true;
                _getenv = null;
                return false;
            }
        }
    }
}
