# Windows: the module with its win-x64 library in PowerShell for Windows (under Wine on this project's machines,
# natively in the GitHub workflow). A sign-in against the fake authority, reuse and -Force, the configuration
# commands on the registry store (a key of this run's own, never PSFramework's real one), help, and beside the
# unmodified d365fo.integrations: both orders of import, configurations both ways across processes, and the
# typical script ending with our bearer at the OData stand-in. Last, PSFramework's real key is as it was.
#
# Under Wine the fake authority and the OData stand-in run natively on Linux (Wine starts no Linux process with
# pipes): build.ps1 starts them and names them in D365FO_TEST_AUTHORITY_URL, D365FO_TEST_ODATA_URL and
# D365FO_TEST_ODATA_LOG. Elsewhere this file starts its own.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'Interop.ps1')
    $script:ThirdPartyAtDiscovery = $IsWindows -and (Find-ThirdPartyModules)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot 'Interop.ps1')
    if (-not $IsWindows) { return }
    $RealKey = 'HKCU:\SOFTWARE\Microsoft\WindowsPowerShell\PSFramework\Config\Default'
    function Get-KeyValues([string] $Path) {
        # The values of a key as name=data lines, sorted; '' when the key does not exist.
        if (-not (Test-Path $Path)) { return '' }
        $item = Get-Item $Path
        (@($item.GetValueNames() | Sort-Object | ForEach-Object { "$_=$($item.GetValue($_))" }) -join "`n")
    }
    $RealBefore = Get-KeyValues $RealKey
    $Key = "Software\d365fo.interactive.tests\pester-$([guid]::NewGuid().ToString('n'))"
    $ThirdParty = Find-ThirdPartyModules

    $OwnAuthority = -not $env:D365FO_TEST_AUTHORITY_URL
    $Authority = if ($OwnAuthority) { Start-FakeAuthority -Arguments '--interval', '1' } else { [pscustomobject]@{ Url = $env:D365FO_TEST_AUTHORITY_URL.TrimEnd('/'); Process = $null } }
    $OwnStandIn = -not $env:D365FO_TEST_ODATA_URL
    $StandIn = if (-not $ThirdParty) { $null } elseif ($OwnStandIn) { Start-ODataStandIn } else { [pscustomobject]@{ Url = $env:D365FO_TEST_ODATA_URL; Process = $null; Log = $env:D365FO_TEST_ODATA_LOG } }

    $Session = @{
        D365FO_CONFIG_REGISTRY_KEY = $Key
        D365FO_AUTHORITY           = $Authority.Url
        D365FO_NO_BROWSER          = '1'
        PSModulePath               = $(if ($ThirdParty) { $ThirdParty + [IO.Path]::PathSeparator }) + [Environment]::GetEnvironmentVariable('PSModulePath')
    }
    # PSFramework's registry store pointed at this run's key, with PSFramework's own loading code run again: so
    # d365fo.integrations reads and writes exactly what this module's core does, and never the real key.
    $RedirectPsf = @"
& (Get-Module PSFramework) { `$script:path_RegistryUserDefault = 'HKCU:\$Key'; [PSFramework.Configuration.ConfigurationHost]::ImportFromRegistryDone = `$false; . (Join-Path `$script:ModuleRoot 'internal/scripts/loadConfigurationPersisted.ps1') }
"@
    function Invoke-InSession([string] $Script, [hashtable] $Extra = @{}) {
        $envs = $Session.Clone()
        foreach ($k in $Extra.Keys) { $envs[$k] = $Extra[$k] }
        $r = Invoke-ChildPwsh -Command ("`$ErrorActionPreference = 'Stop'`n" + $Script) -Environment $envs -TimeoutSeconds 240
        [pscustomobject]@{ Out = $r.StdOut; Err = $r.StdErr; ExitCode = $r.ExitCode; Lines = @($r.StdOut -split "\r?\n" | Where-Object { $_ }) }
    }
    function Get-Marked([object] $Result, [string] $Mark) {
        ($Result.Lines | Where-Object { $_ -like "$Mark=*" } | Select-Object -Last 1) -replace "^$([regex]::Escape($Mark))=", ''
    }
    function Get-DeviceCodeRequests { @(Get-FakeAuthorityLog $Authority | Where-Object endpoint -eq 'devicecode').Count }
    function Get-RawValues([string] $Path, [string[]] $Names) {
        # Each named value of the key as "name|kind|data" with its data unexpanded (byte arrays in hex, string
        # lists joined by '|'): what another module stored, exactly.
        $k = Get-Item $Path
        $present = $k.GetValueNames()
        foreach ($n in $Names) {
            if ($present -notcontains $n) { "$n|missing"; continue }
            $kind = $k.GetValueKind($n)
            $v = $k.GetValue($n, $null, 'DoNotExpandEnvironmentNames')
            $data = switch ($kind) { 'Binary' { [Convert]::ToHexString($v) } 'MultiString' { $v -join '|' } default { [string]$v } }
            "$n|$kind|$data"
        }
    }
}

AfterAll {
    if (-not $IsWindows) { return }
    Remove-Item -LiteralPath "HKCU:\$Key" -Recurse -Force -ErrorAction Ignore
    if ($OwnStandIn) { Stop-ODataStandIn $StandIn }
    if ($OwnAuthority) { Stop-FakeAuthority $Authority }
}

Describe 'On Windows' -Skip:(-not $IsWindows) -Tag 'SkipReason: Windows only' {
    It 'imports with the win-x64 library and the ABI version the cmdlets expect' {
        $header = Get-Content -Raw (Join-Path $RepoRoot 'rust/d365fo_interactive/include/d365fo_interactive.h')
        $abi = [regex]::Match($header, '#define D365FO_ABI_VERSION (\d+)').Groups[1].Value
        $r = Invoke-InSession "Import-Module '$ModuleManifest'; 'abi=' + [D365fo.Interactive.NativeCore]::AbiVersion; 'library=' + [D365fo.Interactive.NativeCore]::LibraryPath"
        Get-Marked $r 'abi' | Should -Be $abi
        Get-Marked $r 'library' | Should -Be (Join-Path $ModulePath 'runtimes\win-x64\native\d365fo_interactive.dll')
    }

    It 'signs in, reuses the session''s token, signs in again with -Force, and hands the token to Set-D365ODataTokenInSession' {
        $before = Get-DeviceCodeRequests
        $r = Invoke-InSession @"
Import-Module '$ModuleManifest'
`$a = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com
`$b = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com
`$c = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com -Force
'bearer=' + (`$a -like 'Bearer *')
'reused=' + (`$a -eq `$b)
'forced=' + (`$c -ne `$a -and `$c -like 'Bearer *')
`$c | Set-D365ODataTokenInSession
'handed=ok'
"@
        $r.Err | Should -Not -Match 'S="Error"'
        Get-Marked $r 'bearer' | Should -Be 'True'
        Get-Marked $r 'reused' | Should -Be 'True'
        Get-Marked $r 'forced' | Should -Be 'True'
        Get-Marked $r 'handed' | Should -Be 'ok'
        (Get-DeviceCodeRequests) - $before | Should -Be 2 -Because 'one sign-in, the reuse asks nothing, -Force signs in again'
    }

    It 'keeps configurations in the registry store, read back by a new process' {
        $r = Invoke-InSession @"
Import-Module '$ModuleManifest'
Add-D365ODataConfig -Name WinOne -Tenant contoso.onmicrosoft.com -Url https://winone.operations.dynamics.com -ClientId 11111111-2222-3333-4444-555555555555
Set-D365ActiveODataConfig -Name WinOne
'store=' + (Get-D365ODataConfig -Name WinOne).Url
"@
        Get-Marked $r 'store' | Should -Be 'https://winone.operations.dynamics.com'
        (Get-Item "HKCU:\$Key").GetValue('d365fo.integrations.odata.winone.url') | Should -Be 'String:https://winone.operations.dynamics.com'
        $again = Invoke-InSession "Import-Module '$ModuleManifest'; 'active=' + (Get-D365ActiveODataConfig).Name"
        Get-Marked $again 'active' | Should -Be 'WinOne'
    }

    It 'keeps one value per setting in the registry and never rewrites another module''s values, of any kind' {
        $k = [Microsoft.Win32.Registry]::CurrentUser.CreateSubKey($Key)
        try {
            $k.SetValue('other.module.odd', "String:a`ttab, `"quotes`", ünï €, 𝄞 and a trailing space ", 'String')
            $k.SetValue('other.module.dword', [int]-559038737, 'DWord')
            $k.SetValue('other.module.qword', [long]0x1122334455667788, 'QWord')
            $k.SetValue('other.module.binary', [byte[]](0, 1, 2, 0xfe, 0xff, 0x7f), 'Binary')
            $k.SetValue('other.module.multi', [string[]]('one', 'two words', 'ΣΟΦΙΑΣ', ''), 'MultiString')
            $k.SetValue('other.module.expand', 'String:%USERPROFILE%\other\%NOT_SET_ANYWHERE%', 'ExpandString')
            $k.SetValue('other.module.unparsed', 'no type prefix: PSFramework cannot read this', 'String')
            $k.SetValue('other.module.unknowntype', 'Bogus:<xml/>', 'String')
        } finally { $k.Dispose() }
        $foreign = 'other.module.odd', 'other.module.dword', 'other.module.qword', 'other.module.binary', 'other.module.multi', 'other.module.expand', 'other.module.unparsed', 'other.module.unknowntype'
        try {
            $before = @(Get-RawValues "HKCU:\$Key" $foreign)
            $r = Invoke-InSession @"
Import-Module '$ModuleManifest'
Add-D365ODataConfig -Name RegOne -Tenant contoso.onmicrosoft.com -Url https://regone.operations.dynamics.com -SystemUrl https://regone-api.operations.dynamics.com
Add-D365ODataConfig -Name RegOne -ClientId 11111111-2222-3333-4444-555555555555 -Force
Set-D365ActiveODataConfig -Name RegOne
Set-D365ODataInteractiveSetting -EndpointVersion v2
Set-D365ODataInteractiveSetting -Reset EndpointVersion
'done=' + (Get-D365ActiveODataConfig).ClientId
"@
            $r.Err | Should -Not -Match 'S="Error"'
            Get-Marked $r 'done' | Should -Be '11111111-2222-3333-4444-555555555555'
            $before | Should -HaveCount 8
            @(Get-RawValues "HKCU:\$Key" $foreign) | Should -Be $before -Because 'values this module does not change stay as they were, kind and data'
            $item = Get-Item "HKCU:\$Key"
            $mine = @($item.GetValueNames() | Where-Object { $_ -like 'd365fo.integrations.odata.regone.*' } | Sort-Object)
            $mine | Should -Be @('d365fo.integrations.odata.regone.clientid', 'd365fo.integrations.odata.regone.name', 'd365fo.integrations.odata.regone.systemurl',
                'd365fo.integrations.odata.regone.tenant', 'd365fo.integrations.odata.regone.url') -Because 'one value per setting'
            foreach ($n in $mine) { $item.GetValueKind($n) | Should -Be 'String' }
            $item.GetValue('d365fo.integrations.odata.regone.systemurl') | Should -Be 'String:https://regone-api.operations.dynamics.com'
            @($item.GetValueNames() | Where-Object { $_ -like '*endpoint*' }) | Should -BeNullOrEmpty -Because 'the reset removed the setting''s value'
        } finally {
            # The original's PSFramework warns about each of them at load: the later cases must not see them.
            Remove-ItemProperty -LiteralPath "HKCU:\$Key" -Name $foreign -ErrorAction Ignore
        }
    }

    It 'has its help' {
        $r = Invoke-InSession "Import-Module '$ModuleManifest'; `$h = Get-Help Get-D365ODataTokenInteractive -Full; 'synopsis=' + [bool]`$h.Synopsis.Trim(); 'tenant=' + [bool](`$h.parameters.parameter | Where-Object name -eq 'Tenant')"
        Get-Marked $r 'synopsis' | Should -Be 'True'
        Get-Marked $r 'tenant' | Should -Be 'True'
    }

    Context 'beside the unmodified d365fo.integrations' -Skip:(-not $script:ThirdPartyAtDiscovery) -Tag $(if ($IsWindows) { 'SkipReason: needs the unmodified d365fo.integrations 0.4.39 (../shared/third-party or D365FO_THIRD_PARTY)' } else { 'SkipReason: Windows only' }) {
        It 'runs the typical script with the modules imported <Name>, ending with our bearer at the OData stand-in' -ForEach @(
            @{ Name = 'this one first'; Prelude = "Import-Module '$ModuleManifest'; Import-Module d365fo.integrations" }
            @{ Name = 'the original first'; Prelude = "Import-Module d365fo.integrations; Import-Module '$ModuleManifest'" }
        ) {
            Clear-ODataStandInLog $StandIn
            $r = Invoke-InSession @"
$Prelude
$RedirectPsf
Add-D365ODataConfig -Name StandIn -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com -SystemUrl $($StandIn.Url)
Set-D365ActiveODataConfig -Name StandIn
Get-D365ODataTokenInteractive -Force | Set-D365ODataTokenInSession
`$rows = @(Get-D365ODataEntityData -EntityName CustomersV3 -Top 1)
'rows=' + `$rows.Count
'source=' + (Get-Command Get-D365ODataTokenInteractive).Source
"@
            Get-Marked $r 'source' | Should -Be 'd365fo.interactive'
            Get-Marked $r 'rows' | Should -Be '1'
            $issued = @(Invoke-RestMethod -Uri "$($Authority.Url)/_test/signins" -NoProxy | ForEach-Object { $_ })[-1]
            $calls = @(Get-ODataStandInLog $StandIn)
            $calls.Count | Should -Be 1
            $calls[0].authorization | Should -BeExactly "Bearer $($issued.access_token)"
        }

        It 'shares configurations both ways across processes through the registry: non-ASCII capitals, -Force and the carry-over''s SystemUrl' {
            $theirs = Invoke-InSession @"
Import-Module d365fo.integrations
$RedirectPsf
d365fo.integrations\Add-D365ODataConfig -Name FromTheirs -Tenant contoso.onmicrosoft.com -Url https://theirs.operations.dynamics.com
d365fo.integrations\Add-D365ODataConfig -Name 'ΣΟΦΙΑΣ' -Tenant contoso.onmicrosoft.com -Url https://sofias.operations.dynamics.com
'culture=' + [cultureinfo]::CurrentCulture.Name
"@
            $theirs.Err | Should -Not -Match 'S="Error"'
            # The 0.1 store of this module, carried over by the first command of ours: the entry has no SystemUrl.
            $oldDir = Join-Path $TestDrive 'old-0.1'
            New-Item -ItemType Directory -Force $oldDir | Out-Null
            Set-Content -LiteralPath (Join-Path $oldDir 'config.json') -Value '{"schema_version":1,"configurations":[{"name":"Carried","tenant":"contoso.onmicrosoft.com","url":"https://carried.operations.dynamics.com"}]}'
            $ours = Invoke-InSession @"
Import-Module '$ModuleManifest'
'theirs=' + (Get-D365ODataConfig -Name FromTheirs).Url
Set-D365ActiveODataConfig -Name 'ΣΟΦΙΑΣ'
'sofias=' + (Get-D365ActiveODataConfig).Url
Add-D365ODataConfig -Name FromOurs -Tenant contoso.onmicrosoft.com -Url https://ours.operations.dynamics.com
Add-D365ODataConfig -Name 'ΟΔΟΣ' -Tenant contoso.onmicrosoft.com -Url https://odos.operations.dynamics.com
Add-D365ODataConfig -Name 'İstanbul' -Tenant contoso.onmicrosoft.com -Url https://istanbul.operations.dynamics.com
Add-D365ODataConfig -Name Dist -Tenant contoso.onmicrosoft.com -Url https://dist.operations.dynamics.com -SystemUrl https://dist-api.operations.dynamics.com
Add-D365ODataConfig -Name Dist -Url https://dist2.operations.dynamics.com -Force
'culture=' + [cultureinfo]::CurrentCulture.Name
"@ @{ D365FO_CONFIG_DIR = $oldDir }
            $ours.Err | Should -Not -Match 'S="Error"'
            Get-Marked $ours 'theirs' | Should -Be 'https://theirs.operations.dynamics.com'
            Get-Marked $ours 'sofias' | Should -Be 'https://sofias.operations.dynamics.com' -Because 'ours finds the key the original made for ΣΟΦΙΑΣ'
            $back = Invoke-InSession @"
Import-Module d365fo.integrations
$RedirectPsf
'ours=' + (d365fo.integrations\Get-D365ODataConfig -Name FromOurs).Url
'odos=' + (d365fo.integrations\Get-D365ODataConfig -Name 'ΟΔΟΣ').Url
'istanbul=' + (d365fo.integrations\Get-D365ODataConfig -Name 'İstanbul').Url
`$d = d365fo.integrations\Get-D365ODataConfig -Name Dist
'dist=' + `$d.Url + '|' + `$d.SystemUrl
'carried=' + (d365fo.integrations\Get-D365ODataConfig -Name Carried).SystemUrl
"@
            Get-Marked $back 'ours' | Should -Be 'https://ours.operations.dynamics.com'
            Get-Marked $back 'odos' | Should -Be 'https://odos.operations.dynamics.com'
            Get-Marked $back 'istanbul' | Should -Be 'https://istanbul.operations.dynamics.com'
            Get-Marked $back 'dist' | Should -Be 'https://dist2.operations.dynamics.com|https://dist-api.operations.dynamics.com' -Because '-Force keeps a SystemUrl set on its own'
            Get-Marked $back 'carried' | Should -Be 'https://carried.operations.dynamics.com' -Because 'the carry-over fills the SystemUrl from the Url, as Add does'
            # Stored under the keys .NET's ToLower makes in the culture both processes ran in (compared with case).
            Get-Marked $ours 'culture' | Should -Be (Get-Marked $theirs 'culture')
            $culture = [cultureinfo]::new((Get-Marked $ours 'culture'))
            $names = (Get-Item "HKCU:\$Key").GetValueNames()
            foreach ($n in 'ΣΟΦΙΑΣ', 'ΟΔΟΣ', 'İstanbul') {
                ($names -ccontains "d365fo.integrations.odata.$($n.ToLower($culture)).url") | Should -BeTrue -Because "$n in culture '$($culture.Name)': $($names -join ', ')"
            }
            ($names -ccontains 'd365fo.integrations.odata.οδος.url') | Should -BeFalse -Because '.NET lower-cases a final Σ to σ, not ς'
        }

        It 'hands a -Temporary active configuration made before the original loads to its data command' {
            # No store of the original's is redirected here: PSFramework loads this prefix's own (empty) key, so the
            # only way the data command can reach the stand-in is the temporary configuration handed over.
            Clear-ODataStandInLog $StandIn
            $r = Invoke-InSession @"
Import-Module '$ModuleManifest'
Add-D365ODataConfig -Name WinTemp -Tenant contoso.onmicrosoft.com -Url https://wintemp.operations.dynamics.com -SystemUrl $($StandIn.Url) -Temporary
Set-D365ActiveODataConfig -Name WinTemp -Temporary
'loaded=' + @(Get-Module d365fo.integrations).Count
Import-Module d365fo.integrations
`$rows = @(Get-D365ODataEntityData -EntityName Vendors -Top 1 -Token 'Bearer given.by.the.test')
'rows=' + `$rows.Count
'theirs=' + (d365fo.integrations\Get-D365ActiveODataConfig).name
"@
            Get-Marked $r 'loaded' | Should -Be '0'
            Get-Marked $r 'rows' | Should -Be '1'
            Get-Marked $r 'theirs' | Should -Be 'WinTemp'
            $calls = @(Get-ODataStandInLog $StandIn)
            $calls.Count | Should -Be 1 -Because 'the data command goes to the temporary configuration''s SystemUrl'
            $calls[0].path | Should -Be '/data/Vendors?$top=1'
        }
    }

    It 'left PSFramework''s real registry key as it was' {
        (Get-Item "HKCU:\$Key").GetValueNames() | Should -Contain 'd365fo.integrations.odata.winone.url' -Because 'the tests above wrote their own key'
        Get-KeyValues $RealKey | Should -BeExactly $RealBefore
    }
}
