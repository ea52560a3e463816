using System;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace D365fo.Interactive
{
    /// <summary>The result codes of the C ABI (include/d365fo_interactive.h); the drift test
    /// (rust/d365fo_interactive/tests/abi_drift.rs) compares these numbers with the header.</summary>
    internal enum ResultCode
    {
        Ok = 0,
        NullParameter = 1,
        InvalidUtf8 = 2,
        InvalidRequest = 3,
        Cancelled = 4,
        TimedOut = 5,
        CodeExpired = 6,
        Declined = 7,
        AuthorityError = 8,
        NetworkError = 9,
        ProtocolError = 10,
        StoreError = 11,
        NotFound = 12,
        AlreadyExists = 13,
        InvalidHandle = 14,
        UrlMissing = 15,
        TenantMissing = 16,
        StorePermissionDenied = 17,
        Panic = 99,
    }

    /// <summary>Hand-written binding of the native core's C ABI (rust/d365fo_interactive/include/d365fo_interactive.h).</summary>
    internal static class Native
    {
        /// <summary>The ABI version this assembly was written against; the library must report the same.</summary>
        internal const uint ExpectedAbiVersion = 2;

        internal const string LibraryBaseName = "d365fo_interactive";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate uint AbiVersionFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr VersionFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void StringFreeFn(IntPtr s);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate int CancelNewFn(out ulong handle);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate int CancelHandleFn(ulong handle);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void EventCallback(IntPtr userdata, IntPtr eventJson);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int CallFn(byte[] requestJson, ulong cancel, EventCallback cb, IntPtr userdata, out IntPtr outJson);

        private static IntPtr _lib;
        private static string _path;
        private static VersionFn _version;
        private static StringFreeFn _stringFree;
        private static CancelNewFn _cancelNew;
        private static CancelHandleFn _cancelRequest, _cancelFree;
        private static CallFn _call;

        private static readonly object Gate = new object();
        private static bool _checked;

        /// <summary>The full path of the loaded library (for diagnostics).</summary>
        internal static string LibraryPath { get { EnsureLoaded(); return _path; } }

        /// <summary>Loads the library for this platform from runtimes/&lt;rid&gt;/native/ beside this assembly and checks
        /// its ABI version; the rest of the functions are bound on first use (binding costs time at import).</summary>
        internal static void EnsureLoaded()
        {
            if (_checked) return;
            lock (Gate)
            {
                if (_checked) return;
                string baseDir = Path.GetDirectoryName(typeof(Native).Assembly.Location);
                string rid = Platform.RuntimeIdentifier();
                string path = Path.Combine(Path.Combine(Path.Combine(Path.Combine(baseDir, "runtimes"), rid), "native"), Platform.LibraryFileName(LibraryBaseName));
                if (!File.Exists(path))
                {
                    string present = "none";
                    string runtimes = Path.Combine(baseDir, "runtimes");
                    if (Directory.Exists(runtimes))
                    {
                        var found = new System.Collections.Generic.List<string>();
                        foreach (string dir in Directory.GetDirectories(runtimes))
                        {
                            string native = Path.Combine(dir, "native");
                            if (Directory.Exists(native) && Directory.GetFiles(native).Length > 0) found.Add(Path.GetFileName(dir));
                        }
                        if (found.Count > 0) present = string.Join(", ", found);
                    }
                    throw new ModuleLoadException(
                        $"d365fo.interactive cannot be imported: its native library for this platform ({rid}) is missing. Expected '{path}'. " +
                        $"This copy of the module carries native libraries for: {present}. Install the package built for your platform, or build from source with build.ps1.");
                }

                IntPtr lib;
                try { lib = Platform.LoadLibrary(path); }
                catch (Exception e)
                {
                    throw new ModuleLoadException(
                        $"d365fo.interactive cannot be imported: the native library '{path}' could not be loaded ({e.Message}). " +
                        $"It may be built for another platform or processor than this one ({rid}).", e);
                }

                uint abi = Bind<AbiVersionFn>(lib, path, "d365fo_abi_version")();
                if (abi != ExpectedAbiVersion)
                    throw new ModuleLoadException(
                        $"d365fo.interactive cannot be imported: the native library '{path}' speaks ABI version {abi}, but this module's cmdlets need version {ExpectedAbiVersion}. " +
                        "The module's files come from different builds; reinstall the module, or rebuild it with build.ps1.");
                _lib = lib;
                _path = path;
                _checked = true;
            }
        }

        private static T Bound<T>(ref T slot, string name) where T : class
        {
            EnsureLoaded();
            if (slot == null)
            {
                lock (Gate) { if (slot == null) slot = Bind<T>(_lib, _path, name); }
            }
            return slot;
        }

        private static T Bind<T>(IntPtr lib, string path, string name) where T : class
        {
            IntPtr fn = Platform.GetExport(lib, name);
            if (fn == IntPtr.Zero)
                throw new ModuleLoadException($"d365fo.interactive cannot be used: the native library '{path}' has no function '{name}'; it is not this module's library or is from another version.");
            return (T)(object)Marshal.GetDelegateForFunctionPointer(fn, typeof(T));
        }

        internal static uint AbiVersion() { EnsureLoaded(); return Bind<AbiVersionFn>(_lib, _path, "d365fo_abi_version")(); }
        internal static string CoreVersion() => ReadUtf8(Bound(ref _version, "d365fo_version")());
        internal static int CancelNew(out ulong handle) => Bound(ref _cancelNew, "d365fo_cancel_new")(out handle);
        internal static int CancelRequest(ulong handle) => Bound(ref _cancelRequest, "d365fo_cancel_request")(handle);
        internal static int CancelFree(ulong handle) => Bound(ref _cancelFree, "d365fo_cancel_free")(handle);

        /// <summary>d365fo_call: one JSON request in, the result code and the answer (or error) JSON out.
        /// The callback, when given, receives each event's JSON on the calling thread during the call.</summary>
        internal static int Call(string requestJson, ulong cancel, EventCallback callback, out string answer) =>
            Call(requestJson, cancel, callback, out answer, syncEnvironment: true);

        /// <summary>As <see cref="Call(string, ulong, EventCallback, out string)"/>; without syncing the environment
        /// (NativeEnvironment itself asks the core which variables to sync).</summary>
        internal static int Call(string requestJson, ulong cancel, EventCallback callback, out string answer, bool syncEnvironment)
        {
            CallFn call = Bound(ref _call, "d365fo_call");
            StringFreeFn free = Bound(ref _stringFree, "d365fo_string_free");
            if (syncEnvironment) NativeEnvironment.Sync();
            int rc = call(Utf8(requestJson), cancel, callback, IntPtr.Zero, out IntPtr outJson);
            GC.KeepAlive(callback);
            try { answer = ReadUtf8(outJson); }
            finally { if (outJson != IntPtr.Zero) free(outJson); }
            return rc;
        }

        /// <summary>NUL-terminated UTF-8 bytes of <paramref name="s"/>, as the ABI expects.</summary>
        internal static byte[] Utf8(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            var b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>Reads a NUL-terminated UTF-8 string owned by someone else (it is not freed).</summary>
        internal static string ReadUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            var b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return Encoding.UTF8.GetString(b);
        }
    }

    /// <summary>Thrown when the native library cannot be used; stops the module import with a clear message.</summary>
    public sealed class ModuleLoadException : Exception
    {
        public ModuleLoadException(string message) : base(message) { }
        public ModuleLoadException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>Platform facts: runtime identifier, library file name, and native loading for .NET Framework and .NET (Core).</summary>
    internal static class Platform
    {
        internal static bool IsWindows => RuntimeInformation.IsOSPlatform(OSPlatform.Windows);
        internal static bool IsMacOS => RuntimeInformation.IsOSPlatform(OSPlatform.OSX);

        internal static string RuntimeIdentifier()
        {
            string os = IsWindows ? "win" : IsMacOS ? "osx" : "linux";
            string arch;
            switch (RuntimeInformation.ProcessArchitecture)
            {
                case Architecture.X64: arch = "x64"; break;
                case Architecture.X86: arch = "x86"; break;
                case Architecture.Arm64: arch = "arm64"; break;
                case Architecture.Arm: arch = "arm"; break;
                default: arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(); break;
            }
            return os + "-" + arch;
        }

        internal static string LibraryFileName(string baseName) =>
            IsWindows ? baseName + ".dll" : IsMacOS ? "lib" + baseName + ".dylib" : "lib" + baseName + ".so";

        [DllImport("kernel32", SetLastError = true, CharSet = CharSet.Unicode)]
        private static extern IntPtr LoadLibraryExW(string path, IntPtr file, uint flags);

        [DllImport("kernel32", SetLastError = true, CharSet = CharSet.Ansi, ExactSpelling = true)]
        private static extern IntPtr GetProcAddress(IntPtr module, string name);

        private const uint LoadWithAlteredSearchPath = 0x00000008;

        private static MethodInfo _nlLoad, _nlGetExport;

        internal static IntPtr LoadLibrary(string path)
        {
            if (IsWindows)
            {
                // Works on .NET Framework (Windows PowerShell 5.1) and .NET: the library is loaded by full path.
                IntPtr h = LoadLibraryExW(path, IntPtr.Zero, LoadWithAlteredSearchPath);
                if (h == IntPtr.Zero) throw new System.ComponentModel.Win32Exception(Marshal.GetLastWin32Error());
                return h;
            }
            // Unix means PowerShell 7 on .NET, which has NativeLibrary; netstandard2.0 cannot name it, so reflect.
            ResolveNativeLibrary();
            try { return (IntPtr)_nlLoad.Invoke(null, new object[] { path }); }
            catch (TargetInvocationException e) when (e.InnerException != null) { throw e.InnerException; }
        }

        internal static IntPtr GetExport(IntPtr lib, string name)
        {
            if (IsWindows) return GetProcAddress(lib, name);
            ResolveNativeLibrary();
            var args = new object[] { lib, name, IntPtr.Zero };
            return (bool)_nlGetExport.Invoke(null, args) ? (IntPtr)args[2] : IntPtr.Zero;
        }

        private static void ResolveNativeLibrary()
        {
            if (_nlLoad != null) return;
            Type nl = typeof(Marshal).Assembly.GetType("System.Runtime.InteropServices.NativeLibrary")
                      ?? Type.GetType("System.Runtime.InteropServices.NativeLibrary, System.Runtime.InteropServices");
            if (nl == null) throw new PlatformNotSupportedException("this .NET runtime has no NativeLibrary (PowerShell 7.4 or later is required on Linux and macOS)");
            _nlLoad = nl.GetMethod("Load", new[] { typeof(string) });
            _nlGetExport = nl.GetMethod("TryGetExport", new[] { typeof(IntPtr), typeof(string), typeof(IntPtr).MakeByRefType() });
        }
    }
}
