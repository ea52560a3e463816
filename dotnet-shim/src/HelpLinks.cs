namespace D365fo.Interactive
{
    /// <summary>Where each command's online help is (Get-Help -Online): its section of docs/commands.md in this
    /// repository. The help tests check that every command has one and that the section exists.</summary>
    internal static class HelpLinks
    {
        private const string Base = "https://github.com/d365collaborative/d365fo.interactive/blob/main/docs/commands.md#";

        internal const string GetToken = Base + "get-d365odatatokeninteractive";
        internal const string SetTokenInSession = Base + "set-d365odatatokeninsession";
        internal const string AddConfig = Base + "add-d365odataconfig";
        internal const string GetConfig = Base + "get-d365odataconfig";
        internal const string GetActiveConfig = Base + "get-d365activeodataconfig";
        internal const string SetActiveConfig = Base + "set-d365activeodataconfig";
        internal const string ImportConfig = Base + "import-d365odataconfig";
        internal const string GetSetting = Base + "get-d365odatainteractivesetting";
        internal const string SetSetting = Base + "set-d365odatainteractivesetting";
    }
}
