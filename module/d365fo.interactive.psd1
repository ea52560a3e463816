@{
    # The cmdlet assembly is the root module: importing it runs its IModuleAssemblyInitializer, which loads the
    # native core from runtimes/<rid>/native/ and checks its ABI version before any command can run.
    RootModule           = 'd365fo.interactive.dll'

    # Stamped by build.ps1 from the workspace version in Cargo.toml (the one place the version is written).
    ModuleVersion        = '0.0.0'

    GUID                 = '7c0d394b-a32e-4c03-8701-2ee5bdc96a4e'
    Author               = 'd365fo.interactive contributors'
    CompanyName          = 'd365collaborative'
    Copyright            = '(c) d365fo.interactive contributors. MIT License.'
    Description          = 'Device code sign-in to Microsoft Entra ID for the OData and custom service endpoints of Dynamics 365 Finance & Operations. Installed beside d365fo.integrations, its Get-D365ODataTokenInteractive and configuration commands take over the same names and share the same configurations, so existing scripts keep working: one sign-in per session with silent renewal, polling at the pace the authority sets, Ctrl+C that stops at once.'

    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    DotNetFrameworkVersion = '4.7.2'

    # Informational (the Gallery shows it); the native libraries under runtimes/ vary with the platforms packaged.
    FileList             = @(
        'd365fo.interactive.psd1'
        'd365fo.interactive.dll'
        'en-US/d365fo.interactive.dll-Help.xml'
        'en-US/about_d365fo.interactive.help.txt'
        'LICENSE'
    )

    CmdletsToExport      = @(
        'Get-D365ODataTokenInteractive'
        'Set-D365ODataTokenInSession'
        'Add-D365ODataConfig'
        'Get-D365ODataConfig'
        'Get-D365ActiveODataConfig'
        'Set-D365ActiveODataConfig'
        'Import-D365ODataConfig'
        'Get-D365ODataInteractiveSetting'
        'Set-D365ODataInteractiveSetting'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()

    PrivateData          = @{
        PSData = @{
            Tags         = @('PSEdition_Core', 'PSEdition_Desktop', 'Windows', 'Linux', 'MacOS',
                             'D365FO', 'Dynamics365', 'FinanceAndOperations', 'OData', 'OAuth', 'DeviceCode', 'EntraID')
            LicenseUri   = 'https://github.com/d365collaborative/d365fo.interactive/blob/main/LICENSE'
            ProjectUri   = 'https://github.com/d365collaborative/d365fo.interactive'
            ReleaseNotes = 'https://github.com/d365collaborative/d365fo.interactive/blob/main/CHANGELOG.md'
        }
    }
}
