using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>At import: loads the native core and checks its ABI version (a broken install fails at Import-Module
    /// with a clear message, not at the first sign-in), and routes the shared command names to this module
    /// (CommandRouting). At removal: takes the routing out again.</summary>
    public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
    {
        public void OnImport()
        {
            Native.EnsureLoaded();
            CommandRouting.Install(CurrentEngine());
        }

        public void OnRemove(PSModuleInfo module) => CommandRouting.Uninstall(CurrentEngine());

        /// <summary>$ExecutionContext of the session importing the module (import runs on its pipeline thread).</summary>
        private static EngineIntrinsics CurrentEngine()
        {
            foreach (PSObject o in EngineScript.Invoke())
                if (o?.BaseObject is EngineIntrinsics e) return e;
            return null;
        }

        private static readonly ScriptBlock EngineScript = ScriptBlock.Create("$ExecutionContext");
    }
}
