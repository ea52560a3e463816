using System;
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
            // Read through the session state of a module object that is never imported: it is linked to this
            // session's global scope, where $ExecutionContext lives. About 0.5 ms at import, where compiling and
            // invoking a script block that says "$ExecutionContext" took 5-9 ms (docs/benchmarks.md).
            try
            {
                if (new PSModuleInfo(true).SessionState.PSVariable.GetValue("ExecutionContext") is EngineIntrinsics e) return e;
            }
            catch (Exception) { /* fall back to the script block */ }
            foreach (PSObject o in ScriptBlock.Create("$ExecutionContext").Invoke())
                if (o?.BaseObject is EngineIntrinsics e) return e;
            return null;
        }
    }
}
