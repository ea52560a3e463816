using System;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace D365fo.Interactive
{
    /// <summary>Hand-written binding of the native core's C ABI (rust/d365fo_interactive/include/d365fo_interactive.h).</summary>
    internal static class Native
    {
        /// <summary>The ABI version this assembly was written against; the library must report the same.</summary>
        internal const uint ExpectedAbiVersion = 1;

        internal const string LibraryBaseName = "d365fo_interactive";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate uint AbiVersionFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate IntPtr VersionFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void StringFreeFn(IntPtr s);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate int CancelNewFn(out ulong handle);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate int CancelHandleFn(ulong handle);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate void EventCallback(IntPtr userdata, IntPtr eventJson);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int DeviceFlowFn(byte[] requestJson, ulong cancel, EventCallback cb, IntPtr userdata, out IntPtr outJson);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] internal delegate int ConfigFn(byte[] requestJson, out IntPtr outJson);

        internal static AbiVersionFn AbiVersion;
        internal static VersionFn Version;
        internal static StringFreeFn StringFree;
        internal static CancelNewFn CancelNew;
        internal static CancelHandleFn CancelRequest;
        internal static CancelHandleFn CancelFree;
        internal static DeviceFlowFn DeviceFlow;
        internal static ConfigFn Config;

        private static readonly object Gate = new object();
        private static bool _loaded;

        /// <summary>The full path of the loaded library (for diagnostics).</summary>
        internal static string LibraryPath { get; private set; }

        /// <summary>Loads the library for this platform from runtimes/&lt;rid&gt;/native/ beside this assembly and checks the ABI.</summary>
        internal static void EnsureLoaded()
        {
            lock (Gate)
            {
                if (_loaded) return;
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

                AbiVersion = Bind<AbiVersionFn>(lib, path, "d365fo_abi_version");
                uint abi = AbiVersion();
                if (abi != ExpectedAbiVersion)
                    throw new ModuleLoadException(
                        $"d365fo.interactive cannot be imported: the native library '{path}' speaks ABI version {abi}, but this module's cmdlets need version {ExpectedAbiVersion}. " +
                        "The module's files come from different builds; reinstall the module, or rebuild it with build.ps1.");

                Version = Bind<VersionFn>(lib, path, "d365fo_version");
                StringFree = Bind<StringFreeFn>(lib, path, "d365fo_string_free");
                CancelNew = Bind<CancelNewFn>(lib, path, "d365fo_cancel_new");
                CancelRequest = Bind<CancelHandleFn>(lib, path, "d365fo_cancel_request");
                CancelFree = Bind<CancelHandleFn>(lib, path, "d365fo_cancel_free");
                DeviceFlow = Bind<DeviceFlowFn>(lib, path, "d365fo_device_flow");
                Config = Bind<ConfigFn>(lib, path, "d365fo_config");
                LibraryPath = path;
                _loaded = true;
            }
        }

        private static T Bind<T>(IntPtr lib, string path, string name) where T : class
        {
            IntPtr fn = Platform.GetExport(lib, name);
            if (fn == IntPtr.Zero)
                throw new ModuleLoadException($"d365fo.interactive cannot be imported: the native library '{path}' has no function '{name}'; it is not this module's library or is from another version.");
            return (T)(object)Marshal.GetDelegateForFunctionPointer(fn, typeof(T));
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

        /// <summary>Reads a string the library returned and frees it with d365fo_string_free.</summary>
        internal static string TakeString(IntPtr p)
        {
            try { return ReadUtf8(p); }
            finally { if (p != IntPtr.Zero) StringFree(p); }
        }

        /// <summary>Calls d365fo_config with one JSON request; returns the result code and the answer or error JSON.</summary>
        internal static int CallConfig(string requestJson, out string answer)
        {
            EnsureLoaded();
            NativeEnvironment.Sync();
            int rc = Config(Utf8(requestJson), out IntPtr outJson);
            answer = TakeString(outJson);
            return rc;
        }

        internal static string CoreVersion()
        {
            EnsureLoaded();
            return ReadUtf8(Version());
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
