using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Loads and checks the native core when the module is imported, so a broken install fails at
    /// Import-Module with a clear message rather than at the first sign-in.</summary>
    public sealed class ModuleInitializer : IModuleAssemblyInitializer
    {
        public void OnImport() => Native.EnsureLoaded();
    }
}
