namespace D365fo.Interactive
{
    /// <summary>Facts about the loaded native core, for diagnostics and the demo:
    /// [D365fo.Interactive.NativeCore]::Version.</summary>
    public static class NativeCore
    {
        /// <summary>The core's semantic version (the workspace version it was built from).</summary>
        public static string Version => Native.CoreVersion();

        /// <summary>The C ABI version the loaded library reports (checked against the cmdlets' at import).</summary>
        public static uint AbiVersion => Native.AbiVersion();

        /// <summary>The full path of the loaded native library.</summary>
        public static string LibraryPath => Native.LibraryPath;
    }
}
