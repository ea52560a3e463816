using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace D365fo.Interactive
{
    /// <summary>Makes the native core see the environment variables as this PowerShell session sees them.
    /// On Linux and macOS, .NET keeps its own copy of the environment: `$env:D365FO_AUTHORITY = …` in a session
    /// never reaches getenv() in native code (the core, its proxy and TLS roots, the clipboard's DISPLAY, the
    /// browser's BROWSER). Before each call into the core, the variables it reads (it names them: the
    /// "environment" operation) are copied down when they differ. On Windows both share one environment block.</summary>
    internal static class NativeEnvironment
    {
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate IntPtr GetEnvFn(byte[] name);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int SetEnvFn(byte[] name, byte[] value, int overwrite);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int UnsetEnvFn(byte[] name);

        private static readonly object Gate = new object();
        private static GetEnvFn _getenv;
        private static SetEnvFn _setenv;
        private static UnsetEnvFn _unsetenv;
        private static bool _unavailable;
        private static List<string> _names;

        internal static void Sync()
        {
            if (Platform.IsWindows) return;
            lock (Gate)
            {
                if (!Bind()) return;
                if (_names == null) _names = AskCore();
                foreach (string name in _names)
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

        private static List<string> AskCore()
        {
            var names = new List<string>();
            if (Native.Call(Protocol.Environment(), 0, null, out string answer, syncEnvironment: false) != 0) return names;
            try
            {
                foreach (object n in Json.List(Json.ParseObject(answer), "names"))
                    if (n is string s) names.Add(s);
            }
            catch (FormatException) { }
            return names;
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
