using System;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>At import: loads the native core and checks its ABI version (a broken install fails at Import-Module
    /// with a clear message, not at the first sign-in), and routes the shared command names to this module
    /// (CommandRouting). At removal: takes the routing out again.</summary>
    public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
    {
        private static readonly object Gate = new object();
        /// <summary>Sessions (runspaces) of this process that have the module imported.</summary>
        private static readonly System.Collections.Generic.HashSet<Guid> Importers = new System.Collections.Generic.HashSet<Guid>();

        public void OnImport()
        {
            Native.EnsureLoaded();
            CommandRouting.Install(CurrentEngine());
            lock (Gate) Importers.Add(CurrentRunspace());
        }

        /// <summary>Remove-Module takes back what the module set in this session: the command routing, the -Token
        /// default (when still ours) and its grant; and when no other session of the process still has the module,
        /// the core forgets every token it held.</summary>
        public void OnRemove(PSModuleInfo module)
        {
            EngineIntrinsics engine = CurrentEngine();
            CommandRouting.Uninstall(engine);
            SessionDefault.Uninstall(engine);
            bool last;
            lock (Gate)
            {
                Importers.Remove(CurrentRunspace());
                // Sessions closed without Remove-Module stay counted: their tokens are kept rather than lost.
                last = Importers.Count == 0;
            }
            if (last)
            {
                try { Native.Call(Protocol.SessionClear(), 0, null, out string _); } catch (Exception) { /* never fail a removal */ }
            }
        }

        private static Guid CurrentRunspace() => System.Management.Automation.Runspaces.Runspace.DefaultRunspace?.InstanceId ?? Guid.Empty;

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
