using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace D365fo.Interactive
{
    /// <summary>Makes this module's commands run when d365fo.integrations is loaded too.
    ///
    /// PowerShell resolves functions before cmdlets, so the original's exported functions (the six names both
    /// modules share) would hide these cmdlets, whichever module was imported first. Import-Module puts those
    /// functions into the session's function table; this class takes the six shared ones out of it again, and
    /// only those: inside d365fo.integrations its own functions stay (its module scope keeps them), and
    /// <c>d365fo.integrations\Get-D365ODataTokenInteractive</c> still reaches the original. Get-Command, Get-Help
    /// and tab completion then find this module's cmdlets, with their full signatures.
    ///
    /// When: at import of this module, and through the engine's command-lookup hooks afterwards: before a lookup of
    /// one of the shared names, and before any lookup after a module was loaded (Import-Module, or autoloading by
    /// a data command). The hooks chain to any the user had, and are taken out again when this module is removed,
    /// which also puts the original's functions back. The same hooks hand a -Temporary change made before
    /// PSFramework was loaded over to it once it is (ConfigObjects.HandOver).</summary>
    internal sealed class CommandRouting
    {
        internal static readonly string[] SharedNames =
        {
            "Get-D365ODataTokenInteractive", "Set-D365ODataTokenInSession", "Add-D365ODataConfig",
            "Get-D365ODataConfig", "Get-D365ActiveODataConfig", "Set-D365ActiveODataConfig",
        };

        private const string OriginalModule = "d365fo.integrations";

        private static readonly ConditionalWeakTable<EngineIntrinsics, CommandRouting> PerSession = new ConditionalWeakTable<EngineIntrinsics, CommandRouting>();

        private readonly EngineIntrinsics _engine;
        private readonly EventHandler<CommandLookupEventArgs> _previousPre, _previousPost, _pre, _post;
        private readonly HashSet<string> _seenModules = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        private volatile bool _active = true;
        private volatile bool _modulesChanged = true;
        [ThreadStatic] private static bool _busy;

        private CommandRouting(EngineIntrinsics engine)
        {
            _engine = engine;
            _previousPre = engine.InvokeCommand.PreCommandLookupAction;
            _previousPost = engine.InvokeCommand.PostCommandLookupAction;
            _pre = OnPreLookup;
            _post = OnPostLookup;
            engine.InvokeCommand.PreCommandLookupAction = _pre;
            engine.InvokeCommand.PostCommandLookupAction = _post;
        }

        /// <summary>Installs the routing for this session (once) and applies it at once.</summary>
        internal static void Install(EngineIntrinsics engine)
        {
            if (engine == null) return;
            if (!PerSession.TryGetValue(engine, out CommandRouting routing) || !routing._active)
            {
                if (routing != null) PerSession.Remove(engine);
                routing = new CommandRouting(engine);
                PerSession.Add(engine, routing);
            }
            if (OriginalMayBeLoaded()) routing.TakeShadowingFunctions();
            else if (engine.SessionState.Module == null) routing._modulesChanged = false;  // as the scan would have
        }

        /// <summary>False when d365fo.integrations cannot be loaded in this process: it requires PSFramework
        /// (RequiredModules), whose assembly PSFramework.dll is then loaded. Checking that costs ~0.05 ms; the
        /// function-table scan it spares costs 1-9 ms at import, nearly all of it the session's first use of the
        /// function provider. The hooks are in place either way: a later import of the original, or a lookup of a
        /// shared name, scans as before.</summary>
        private static bool OriginalMayBeLoaded()
        {
            foreach (Assembly a in AppDomain.CurrentDomain.GetAssemblies())
            {
                string n = a.FullName;
                if (n != null && n.StartsWith("PSFramework,", StringComparison.OrdinalIgnoreCase)) return true;
            }
            return false;
        }

        /// <summary>Takes the hooks out (or, when someone hooked on top of them, makes them pass through) and puts
        /// the original's functions back into the session.</summary>
        internal static void Uninstall(EngineIntrinsics engine)
        {
            if (engine == null || !PerSession.TryGetValue(engine, out CommandRouting routing)) return;
            PerSession.Remove(engine);
            routing._active = false;
            var invoke = engine.InvokeCommand;
            if (invoke.PreCommandLookupAction == routing._pre) invoke.PreCommandLookupAction = routing._previousPre;
            if (invoke.PostCommandLookupAction == routing._post) invoke.PostCommandLookupAction = routing._previousPost;
            routing.GiveBack();
        }

        private static bool IsShared(object name)
        {
            if (!(name is string s)) return false;
            foreach (string n in SharedNames) if (string.Equals(n, s, StringComparison.OrdinalIgnoreCase)) return true;
            return false;
        }

        private void OnPreLookup(object name, CommandLookupEventArgs e)
        {
            try
            {
                // After a module was loaded, look once the lookups are back at the top level (not inside a module,
                // where a module being imported runs its own lookups before its exports exist).
                if (_active && !_busy && (IsShared(name) || (_modulesChanged && _engine.SessionState.Module == null)))
                {
                    TakeShadowingFunctions();
                    HandOverTemporary();
                }
            }
            catch (Exception) { /* a lookup must never fail because of this module */ }
            _previousPre?.Invoke(name, e);
        }

        private void OnPostLookup(object name, CommandLookupEventArgs e)
        {
            try
            {
                CommandInfo found = e.Command;
                if (_active && found != null)
                {
                    string resolved = found is AliasInfo alias ? alias.Definition : found.Name;
                    string module = found.ModuleName;
                    // The next lookup checks again after a module may have been loaded: by Import-Module, or by the
                    // first use of a module's command (autoloading).
                    if (string.Equals(resolved, "Import-Module", StringComparison.OrdinalIgnoreCase) || (!string.IsNullOrEmpty(module) && _seenModules.Add(module)))
                        _modulesChanged = true;
                    // A command of the original (or PSFramework) about to run, its module now loaded (autoloading
                    // imports it during this lookup): it must see this session's temporary choice.
                    if (!_busy && (string.Equals(module, OriginalModule, StringComparison.OrdinalIgnoreCase) || string.Equals(module, "PSFramework", StringComparison.OrdinalIgnoreCase)))
                        HandOverTemporary();
                }
            }
            catch (Exception) { }
            _previousPost?.Invoke(name, e);
        }

        /// <summary>Removes the original's shared functions from the function tables visible here, except inside the
        /// original's own module.</summary>
        private void TakeShadowingFunctions()
        {
            _busy = true;
            try
            {
                SessionState here = _engine.SessionState;
                if (here.Module == null) _modulesChanged = false;
                foreach (string name in SharedNames)
                {
                    // Two tables can hold one: the global scope and the scope a script imported into.
                    for (int i = 0; i < 4; i++)
                    {
                        string path = "function:\\" + name;
                        if (!here.InvokeProvider.Item.Exists(path)) break;
                        FunctionInfo f = null;
                        foreach (PSObject o in here.InvokeProvider.Item.Get(path)) f = o.BaseObject as FunctionInfo ?? f;
                        if (f?.Module == null || !string.Equals(f.Module.Name, OriginalModule, StringComparison.OrdinalIgnoreCase)) break;
                        if (ReferenceEquals(f.Module.SessionState, here)) break;
                        here.InvokeProvider.Item.Remove(path, false);
                        _taken.Add(name);
                    }
                }
            }
            finally { _busy = false; }
        }

        /// <summary>Hands a -Temporary change made before PSFramework was loaded to PSFramework's live configuration
        /// (ConfigObjects.HandOver), once PSFramework is loaded and the lookups are at the top level again (not
        /// inside a module being imported, whose persisted configuration would be read after it).</summary>
        private void HandOverTemporary()
        {
            if (!ConfigObjects.HandOverPending || _engine.SessionState.Module != null || !OriginalMayBeLoaded()) return;
            _busy = true;
            try { ConfigObjects.HandOver(_engine); }
            catch (Exception) { /* it is tried again at the next lookup */ }
            finally { _busy = false; }
        }

        /// <summary>Puts the original's shared functions back into the global scope, if it is still loaded.</summary>
        private void GiveBack()
        {
            if (_taken.Count == 0) return;
            try
            {
                _engine.InvokeCommand.InvokeScript(false, ScriptBlock.Create(GiveBackScript), null, OriginalModule, new List<string>(_taken).ToArray());
            }
            catch (Exception) { /* the original stays reachable as d365fo.integrations\<name> */ }
        }

        // Parsed only when needed: as a static ScriptBlock it was parsed by the first use of this class, at import.
        private const string GiveBackScript = @"
param([string] $Module, [string[]] $Names)
$m = Get-Module $Module
if ($m) { Import-Module -ModuleInfo $m -Function $Names -Global -WarningAction Ignore }";
    }
}
