# The OData configuration commands: parameters and messages as in d365fo.integrations, the persisted store,
# temporary entries, tab completion and masked secrets. Every case runs in a fresh pwsh with its own HOME,
# XDG_CONFIG_HOME and D365FO_CONFIG_DIR, so nothing touches the real user's files.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')

    function New-TestHome {
        $h = Join-Path ([IO.Path]::GetTempPath()) ("d365fo-cfg-" + [guid]::NewGuid().ToString('n'))
        New-Item -ItemType Directory -Path $h | Out-Null
        $h
    }

    function Get-TestEnvironment([string] $TestHome) {
        @{
            HOME                    = $TestHome
            XDG_CONFIG_HOME         = (Join-Path $TestHome 'xdg')
            APPDATA                 = (Join-Path $TestHome 'appdata')
            LOCALAPPDATA            = (Join-Path $TestHome 'localappdata')
            D365FO_CONFIG_DIR       = (Join-Path $TestHome 'store')
            D365FO_AUTHORITY        = $null
            D365FO_ENDPOINT_VERSION = $null
            D365FO_CLIENT_ID        = $null
            D365FO_NO_BROWSER       = $null
        }
    }

    # Runs $Script in a fresh pwsh with the module imported and the test home; returns stdout lines.
    # Warnings are merged into the output (3>&1) so a test can assert the text a user sees.
    function Invoke-Config([string] $TestHome, [string] $Script, [hashtable] $Extra = @{}) {
        $envs = Get-TestEnvironment $TestHome
        foreach ($k in $Extra.Keys) { $envs[$k] = $Extra[$k] }
        $r = Invoke-ChildPwsh -Environment $envs -Command "`$ErrorActionPreference = 'Stop'; Import-Module '$ModuleManifest'; & { $Script } 3>&1 | ForEach-Object { [string]`$_ }"
        if ($r.ExitCode -ne 0 -or $r.StdErr) { throw "child pwsh failed ($($r.ExitCode)): $($r.StdErr)`n$($r.StdOut)" }
        @($r.StdOut -split "\r?\n" | Where-Object { $_ -ne '' })
    }

    function Get-ParameterFacts([string] $Command, [string] $Name) {
        $p = (Get-Command $Command).Parameters[$Name]
        $attr = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
        [pscustomobject]@{ Type = $p.ParameterType; Aliases = @($p.Aliases); Positions = @($attr.Position); Mandatory = @($attr.Mandatory) }
    }

    Import-Module $ModuleManifest -Force
    $script:ExistsMessage = 'An OData configuration with UAT as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter.'
}

Describe 'Parameters as in d365fo.integrations' {
    It 'Add-D365ODataConfig takes Name (mandatory), Tenant, Url, SystemUrl, ClientId, ClientSecret by position, and the switches' {
        $f = Get-ParameterFacts Add-D365ODataConfig Name
        $f.Mandatory | Should -Be @($true)
        $f.Positions | Should -Be @(0)
        (Get-ParameterFacts Add-D365ODataConfig Tenant).Aliases | Should -Be @('$AADGuid')
        (Get-ParameterFacts Add-D365ODataConfig Url).Aliases | Should -Be @('Uri', 'AuthenticationUrl')
        foreach ($n in 'Tenant', 'Url', 'SystemUrl', 'ClientId', 'ClientSecret') { (Get-ParameterFacts Add-D365ODataConfig $n).Type | Should -Be ([string]) }
        foreach ($n in 'Temporary', 'Force', 'EnableException') { (Get-ParameterFacts Add-D365ODataConfig $n).Type | Should -Be ([switch]) }
    }

    It 'Set-D365ActiveODataConfig takes a mandatory Name at position 1, and Temporary' {
        $f = Get-ParameterFacts Set-D365ActiveODataConfig Name
        $f.Mandatory | Should -Be @($true)
        $f.Positions | Should -Be @(1)
        (Get-ParameterFacts Set-D365ActiveODataConfig Temporary).Type | Should -Be ([switch])
    }

    It 'Get-D365ODataConfig defaults Name to * and has OutputAsHashtable, ShowSecret and EnableException' {
        $cmd = Get-Command Get-D365ODataConfig
        foreach ($n in 'Name', 'OutputAsHashtable', 'ShowSecret', 'EnableException') { $cmd.Parameters.Keys | Should -Contain $n }
        [D365fo.Interactive.GetD365ODataConfigCommand]::new().Name | Should -Be '*'
        foreach ($n in 'OutputAsHashtable', 'ShowSecret', 'EnableException') { (Get-Command Get-D365ActiveODataConfig).Parameters.Keys | Should -Contain $n }
    }
}

Describe 'Add-D365ODataConfig and Get-D365ODataConfig' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'saves a configuration: trailing slashes removed, SystemUrl defaulting to Url, the secret masked' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Tenant 'e674da86-7ee5-40a7-b777-1111111111111' -AuthenticationUrl 'https://uat.example.com///' -ClientId 'cid' -ClientSecret 'Vja/Secret+1'
$c = Get-D365ODataConfig -Name UAT
$c.pstypenames[0]; $c.name; $c.tenant; $c.url; $c.systemurl; $c.clientid; $c.clientsecret
($c | Format-List | Out-String) -match 'Vja/Secret'
'@
        $out | Should -Be @('D365fo.Interactive.ODataConfig', 'UAT', 'e674da86-7ee5-40a7-b777-1111111111111', 'https://uat.example.com', 'https://uat.example.com', 'cid', '********', 'False')
        Get-Content -Raw (Join-Path $TestHome 'store/config.json') | Should -Match '"schema_version": 1'
    }

    It 'takes the parameters by position and the $AADGuid and Uri aliases' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig 'Pos' 'tenant-a' 'https://a/' 'https://sys/' 'cid' 'sec'
$byAlias = @{ '$AADGuid' = 'tenant-b'; Uri = 'https://b' }
Add-D365ODataConfig -Name Alias @byAlias
$p = Get-D365ODataConfig Pos; $a = Get-D365ODataConfig Alias
"$($p.tenant)|$($p.url)|$($p.systemurl)|$($p.clientid)"; "$($a.tenant)|$($a.url)|$($a.systemurl)"
'@
        $out | Should -Be @('tenant-a|https://a|https://sys|cid', 'tenant-b|https://b|https://b')
    }

    It 'refuses an existing name (any case) without -Force with the original message, and overwrites with -Force' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Tenant one
Add-D365ODataConfig -Name uat -Tenant two
(Get-D365ODataConfig UAT).tenant
Add-D365ODataConfig -Name UAT -Tenant three -Force
(Get-D365ODataConfig UAT).tenant
'@
        $out[0] | Should -Match ([regex]::Escape('[Add-D365ODataConfig] An OData configuration with uat as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter.'))
        $out[1..2] | Should -Be @('one', 'three')
    }

    It 'throws ConfigurationExists with -EnableException' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT
try { Add-D365ODataConfig -Name UAT -EnableException } catch { $_.FullyQualifiedErrorId; [string]$_.CategoryInfo.Category; $_.Exception.Message }
'@
        $out | Should -Be @('ConfigurationExists,D365fo.Interactive.AddD365ODataConfigCommand', 'ResourceExists', $ExistsMessage)
    }

    It 'returns hashtables with -OutputAsHashtable and the secret only with -ShowSecret' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Tenant t -Url https://u -ClientSecret 'p@ss'
$h = Get-D365ODataConfig -OutputAsHashtable
$h.GetType().Name; ($h.Keys | Sort-Object) -join ','; $h.clientsecret
(Get-D365ODataConfig -ShowSecret).clientsecret
(Get-D365ODataConfig -OutputAsHashtable -ShowSecret).clientsecret
'@
        $out | Should -Be @('Hashtable', 'clientid,clientsecret,name,systemurl,tenant,url', '********', 'p@ss', 'p@ss')
    }

    It 'matches names with wildcards, * by default, and says so when nothing matches' {
        $out = Invoke-Config $TestHome @'
'Dev1', 'Dev2', 'Prod' | ForEach-Object { Add-D365ODataConfig -Name $_ }
(Get-D365ODataConfig).name -join ','
(Get-D365ODataConfig -Name 'dev*').name -join ','
(Get-D365ODataConfig -Name 'p?od').name
Get-D365ODataConfig -Name 'nothing*'
try { Get-D365ODataConfig -Name 'nothing*' -EnableException } catch { $_.FullyQualifiedErrorId }
'@
        $out[0..2] | Should -Be @('Dev1,Dev2,Prod', 'Dev1,Dev2', 'Prod')
        $out[3] | Should -Match 'No configurations found with the name\.$'
        $out[4] | Should -Be 'ConfigurationNotFound,D365fo.Interactive.GetD365ODataConfigCommand'
    }

    It 'keeps -Temporary configurations in the session only' {
        $first = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name Scratch -Tenant t -Temporary
(Get-D365ODataConfig Scratch).tenant
'@
        $first | Should -Be @('t')
        Test-Path (Join-Path $TestHome 'store/config.json') | Should -BeFalse
        $second = @(Invoke-Config $TestHome 'Get-D365ODataConfig -Name Scratch')
        $second.Count | Should -Be 1
        $second[0] | Should -Match 'No configurations found with the name\.$'
    }
}

Describe 'The active configuration' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'says clearly that none is active' {
        $out = Invoke-Config $TestHome @'
Get-D365ActiveODataConfig
try { Get-D365ActiveODataConfig -EnableException } catch { $_.FullyQualifiedErrorId; [string]$_.CategoryInfo.Category; $_.Exception.Message }
'@
        $out[0] | Should -Match ([regex]::Escape("[Get-D365ActiveODataConfig] It looks like there isn't configured an active OData configuration."))
        $out[1..3] | Should -Be @('ConfigurationNotFound,D365fo.Interactive.GetD365ActiveODataConfigCommand', 'ObjectNotFound', "It looks like there isn't configured an active OData configuration.")
    }

    It 'refuses wildcards and unknown names with the original messages' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT
Set-D365ActiveODataConfig 'U*'
Set-D365ActiveODataConfig -Name 'Nope'
try { Set-D365ActiveODataConfig 'Nope' -EnableException } catch { $_.FullyQualifiedErrorId }
'@
        $out[0] | Should -Match 'The name cannot contain wildcard character\.$'
        $out[1] | Should -Match "An OData configuration with that name doesn't exists\.$"
        $out[2] | Should -Be 'ConfigurationNotFound,D365fo.Interactive.SetD365ActiveODataConfigCommand'
    }

    It 'persists the active choice across processes, and -Temporary only in the session' {
        Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Tenant tu -Url https://uat
Add-D365ODataConfig -Name Prod -Tenant tp -Url https://prod
Set-D365ActiveODataConfig uat
'@ | Should -BeNullOrEmpty
        $out = Invoke-Config $TestHome @'
(Get-D365ActiveODataConfig).name
Set-D365ActiveODataConfig Prod -Temporary
$a = Get-D365ActiveODataConfig -OutputAsHashtable; "$($a.name)|$($a.tenant)|$($a.url)"
'@
        $out | Should -Be @('UAT', 'Prod|tp|https://prod')
        Invoke-Config $TestHome '(Get-D365ActiveODataConfig).name' | Should -Be @('UAT')
    }
}

Describe 'The store file' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'loses nothing when two processes add 50 configurations each at the same moment' {
        $go = Join-Path $TestHome 'go'
        $procs = foreach ($p in 'a', 'b') {
            $script = "Import-Module '$ModuleManifest'; while (-not (Test-Path '$go')) { Start-Sleep -Milliseconds 10 }; 1..50 | ForEach-Object { Add-D365ODataConfig -Name ('$p' + `$_) -Tenant '$p' -EnableException }"
            $psi = [Diagnostics.ProcessStartInfo]::new($PwshExe)
            foreach ($a in '-NoProfile', '-NonInteractive', '-EncodedCommand', [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($script))) { $psi.ArgumentList.Add($a) }
            $psi.UseShellExecute = $false
            $psi.RedirectStandardError = $true
            $envs = Get-TestEnvironment $TestHome
            foreach ($k in $envs.Keys) { if ($null -eq $envs[$k]) { $psi.Environment.Remove($k) | Out-Null } else { $psi.Environment[$k] = $envs[$k] } }
            [Diagnostics.Process]::Start($psi)
        }
        Start-Sleep -Milliseconds 500
        New-Item -ItemType File -Path $go | Out-Null
        foreach ($p in $procs) {
            $p.WaitForExit(120000) | Should -BeTrue
            $p.StandardError.ReadToEnd() | Should -BeNullOrEmpty
            $p.ExitCode | Should -Be 0
        }
        $names = Invoke-Config $TestHome '(Get-D365ODataConfig).name'
        $names.Count | Should -Be 100
        foreach ($p in 'a', 'b') { foreach ($i in 1..50) { $names | Should -Contain "$p$i" } }
    }

    It 'reports a corrupt store, keeps it aside, and starts a new file at the next change' {
        $dir = Join-Path $TestHome 'store'
        New-Item -ItemType Directory -Path $dir | Out-Null
        Set-Content -Path (Join-Path $dir 'config.json') -Value '{ "schema_version": 1, "configurations": [ {' -NoNewline
        $out = Invoke-Config $TestHome @'
try { Get-D365ODataConfig -EnableException } catch { $_.FullyQualifiedErrorId; [string]$_.CategoryInfo.Category; $_.Exception.Message }
'@
        $out[0] | Should -Be 'ConfigurationStoreError,D365fo.Interactive.GetD365ODataConfigCommand'
        $out[1] | Should -Be 'ReadError'
        $out[2] | Should -Match ([regex]::Escape((Join-Path $dir 'config.json')))
        $out[2] | Should -Match 'kept aside'
        $backup = @(Get-ChildItem $dir -Filter 'config.json.corrupt-*')
        $backup.Count | Should -Be 1
        Get-Content -Raw $backup[0].FullName | Should -Be '{ "schema_version": 1, "configurations": [ {'
        $out[2] | Should -Match ([regex]::Escape($backup[0].Name))
        Invoke-Config $TestHome "Add-D365ODataConfig -Name New; (Get-D365ODataConfig).name" | Should -Be @('New')
        Test-Path $backup[0].FullName | Should -BeTrue
    }

    It 'is private to the owner on Unix (folder 0700, file 0600)' -Skip:$IsWindows -Tag 'SkipReason: Unix only' {
        Invoke-Config $TestHome "Add-D365ODataConfig -Name UAT -ClientSecret s" | Should -BeNullOrEmpty
        (Get-Item (Join-Path $TestHome 'store')).UnixFileMode | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite, UserExecute')
        (Get-Item (Join-Path $TestHome 'store/config.json')).UnixFileMode | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite')
    }

    It 'lives in the XDG configuration folder when no override is set' -Skip:($IsWindows -or $IsMacOS) -Tag 'SkipReason: Linux only' {
        Invoke-Config $TestHome "Add-D365ODataConfig -Name UAT" -Extra @{ D365FO_CONFIG_DIR = $null } | Should -BeNullOrEmpty
        Test-Path (Join-Path $TestHome 'xdg/d365fo.interactive/config.json') | Should -BeTrue
    }
}

Describe 'Tab completion' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'completes configuration names for every -Name, quoting names with spaces' {
        $out = Invoke-Config $TestHome @'
'UAT', 'Uat Two', 'Prod' | ForEach-Object { Add-D365ODataConfig -Name $_ }
foreach ($line in 'Get-D365ODataConfig -Name u', 'Set-D365ActiveODataConfig u', 'Add-D365ODataConfig -Name u -Force') {
    $pos = if ($line -like 'Add*') { 'Add-D365ODataConfig -Name u'.Length } else { $line.Length }
    (TabExpansion2 $line $pos).CompletionMatches.CompletionText -join ','
}
(TabExpansion2 'Get-D365ODataConfig -Name ' 'Get-D365ODataConfig -Name '.Length).CompletionMatches.CompletionText -join ','
'@
        $out | Should -Be @("UAT,'Uat Two'", "UAT,'Uat Two'", "UAT,'Uat Two'", "Prod,UAT,'Uat Two'")
    }
}

Describe 'Module settings' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'shows each effective value and its source: environment, stored, default' {
        $out = Invoke-Config $TestHome @'
Set-D365ODataInteractiveSetting -EndpointVersion v2 -NoBrowser $true -Authority 'https://login.example.com/'
Get-D365ODataInteractiveSetting | ForEach-Object { "$($_.Name)=$($_.Value)@$($_.Source)" }
'@ -Extra @{ D365FO_CLIENT_ID = 'env-client'; D365FO_ENDPOINT_VERSION = 'v1' }
        $out[0] | Should -Match 'D365FO_ENDPOINT_VERSION is set and overrides the stored EndpointVersion'
        $out[1..4] | Should -Be @('Authority=https://login.example.com@Stored', 'EndpointVersion=v1@Environment', 'ClientId=env-client@Environment', 'NoBrowser=True@Stored')
    }

    It 'defaults to the public Azure PowerShell client and resets stored values' {
        $out = Invoke-Config $TestHome @'
Set-D365ODataInteractiveSetting -ClientId 'my-app'
(Get-D365ODataInteractiveSetting ClientId).Value
Set-D365ODataInteractiveSetting -Reset ClientId
$s = Get-D365ODataInteractiveSetting ClientId; "$($s.Value)@$($s.Source)"
'@
        $out | Should -Be @('my-app', '1950a258-227b-4e31-a9cf-717495945fc2@Default')
    }

    It 'refuses an endpoint version other than v1 or v2, and plain http to a remote authority' {
        $out = Invoke-Config $TestHome @'
try { Set-D365ODataInteractiveSetting -EndpointVersion v3 } catch { $_.FullyQualifiedErrorId }
try { Set-D365ODataInteractiveSetting -Authority 'http://login.example.com' -EnableException } catch { $_.FullyQualifiedErrorId; $_.Exception.Message }
try { Set-D365ODataInteractiveSetting -EnableException } catch { $_.Exception.Message }
'@
        $out[0] | Should -Be 'ParameterArgumentValidationError,D365fo.Interactive.SetD365ODataInteractiveSettingCommand'
        $out[1] | Should -Be 'InvalidParameter,D365fo.Interactive.SetD365ODataInteractiveSettingCommand'
        $out[2] | Should -Match 'plain http'
        $out[3] | Should -Be 'Give at least one of -Authority, -EndpointVersion, -ClientId, -NoBrowser or -Reset.'
    }
}

Describe 'Migration from d365fo.integrations (PSFramework), read only' {
    BeforeEach {
        $script:TestHome = New-TestHome
        $fixtures = Join-Path $RepoRoot 'tests/fixtures/psframework'
        Copy-Item -Recurse (Join-Path $fixtures 'xdg') (Join-Path $TestHome 'xdg')
        $script:TheirFile = Join-Path $TestHome 'xdg/PowerShell/PSFramework/psf_config.json'
        $script:TheirHash = (Get-FileHash $TheirFile).Hash
    }

    It 'mentions the import command when this store is empty and theirs has configurations' {
        $out = @(Invoke-Config $TestHome 'Get-D365ODataConfig')
        $out[0] | Should -Match 'd365fo.integrations \(PSFramework\) has 2: Prod, UAT\. Run Import-D365ODataConfig'
        $out[1] | Should -Match 'No configurations found with the name\.$'
    }

    It 'imports their configurations and active choice, secrets included, and leaves their file unchanged' {
        $out = Invoke-Config $TestHome @'
(Import-D365ODataConfig).name -join ','
$u = Get-D365ODataConfig UAT -ShowSecret
"$($u.tenant)|$($u.url)|$($u.systemurl)|$($u.clientid)|$($u.clientsecret)"
(Get-D365ODataConfig UAT).clientsecret
(Get-D365ActiveODataConfig).name
'@
        $out | Should -Be @('Prod,UAT', 'e674da86-7ee5-40a7-b777-1111111111111|https://uat.sandbox.operations.dynamics.com|https://uat.sandbox.operations.dynamics.com|dea8d7a9-1602-4429-b138-111111111111|Vja/VmdxaLOPR+alkjfsadffelkjlfw234522', '********', 'UAT')
        (Get-FileHash $TheirFile).Hash | Should -Be $TheirHash
        # Once ours has configurations, Get-D365ODataConfig no longer mentions theirs.
        Invoke-Config $TestHome '(Get-D365ODataConfig).name -join ","' | Should -Be @('Prod,UAT')
    }

    It 'skips names that exist unless -Force, and imports only the names asked for' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Tenant mine
(Import-D365ODataConfig -Name 'U*').name
(Get-D365ODataConfig UAT).tenant
(Import-D365ODataConfig -Name UAT -Force).name
(Get-D365ODataConfig UAT).tenant
(Get-D365ODataConfig).name -join ','
'@
        $out[0] | Should -Match 'An OData configuration with UAT as name already exists\. It was not imported'
        $out[1..4] | Should -Be @('mine', 'UAT', 'e674da86-7ee5-40a7-b777-1111111111111', 'UAT')
    }

    It 'imports from an explicit file or folder with -Path, and says when nothing is there' {
        $single = Join-Path $RepoRoot 'tests/fixtures/psframework/single'
        $out = Invoke-Config $TestHome @"
`$d = Import-D365ODataConfig -Path '$single'; "`$(`$d.name)|`$(`$d.tenant)|`$(`$d.url)"
try { Import-D365ODataConfig -Path '$single' -Name 'zzz' -EnableException } catch { `$_.FullyQualifiedErrorId; `$_.Exception.Message }
"@
        $out[0] | Should -Be 'Dev|dev-tenant|https://dev.cloudax.dynamics.com'
        $out[1] | Should -Be 'ConfigurationNotFound,D365fo.Interactive.ImportD365ODataConfigCommand'
        $out[2] | Should -Match "matching 'zzz' were found in"
    }

    It 'completes the names of their configurations for Import-D365ODataConfig -Name' {
        Invoke-Config $TestHome "(TabExpansion2 'Import-D365ODataConfig -Name ' 'Import-D365ODataConfig -Name '.Length).CompletionMatches.CompletionText -join ','" | Should -Be @('Prod,UAT')
    }
}

Describe 'Get-D365ODataTokenInteractive through the active configuration' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1') }
    AfterAll { Stop-FakeAuthority $fa }

    It 'signs in with no parameters, sending the tenant and url of the active configuration' {
        $TestHome = New-TestHome
        $envs = Get-TestEnvironment $TestHome
        $envs['D365FO_AUTHORITY'] = $fa.Url
        $envs['D365FO_NO_BROWSER'] = '1'
        $r = Invoke-ChildPwsh -Environment $envs -TimeoutSeconds 60 -Command @"
Import-Module '$ModuleManifest'
Add-D365ODataConfig -Name Other -Tenant 'other-tenant.onmicrosoft.com' -Url 'https://other.example.com'
Add-D365ODataConfig -Name E2E -Tenant 'e2e-tenant.onmicrosoft.com' -Url 'https://e2e.operations.example.com/'
Set-D365ActiveODataConfig -Name E2E
try { Get-D365ODataTokenInteractive -EnableException 6>`$null } catch { 'ERROR: ' + `$_.Exception.Message }
"@
        $r.StdOut.Trim() | Should -Match '^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.'
        $log = Get-FakeAuthorityLog $fa
        $device = @($log | Where-Object endpoint -EQ 'devicecode')
        $device.Count | Should -Be 1
        $device[0].path | Should -BeLike '/e2e-tenant.onmicrosoft.com/oauth2/devicecode*'
        $device[0].form.resource | Should -Be 'https://e2e.operations.example.com'
        ($log | ConvertTo-Json -Depth 5) | Should -Not -Match 'other'
    }

    It 'lets explicit parameters win over the active configuration, and follows a change of the active one without re-importing' {
        $TestHome = New-TestHome
        $envs = Get-TestEnvironment $TestHome
        $envs['D365FO_AUTHORITY'] = $fa.Url
        $envs['D365FO_NO_BROWSER'] = '1'
        $r = Invoke-ChildPwsh -Environment $envs -TimeoutSeconds 60 -Command @"
Import-Module '$ModuleManifest'
Add-D365ODataConfig -Name A -Tenant 'a-tenant.onmicrosoft.com' -Url 'https://a.example.com'
Add-D365ODataConfig -Name B -Tenant 'b-tenant.onmicrosoft.com' -Url 'https://b.example.com'
Set-D365ActiveODataConfig -Name A
`$null = Get-D365ODataTokenInteractive -Url 'https://explicit.example.com' -EnableException 6>`$null
Set-D365ActiveODataConfig -Name B
`$null = Get-D365ODataTokenInteractive -EnableException 6>`$null
'done'
"@
        $r.StdOut.Trim() | Should -Be 'done'
        $device = @(Get-FakeAuthorityLog $fa | Where-Object endpoint -EQ 'devicecode' | Select-Object -Last 2)
        $device[0].tenant | Should -Be 'a-tenant.onmicrosoft.com' -Because ($r.StdErr + ($device | ConvertTo-Json -Depth 4))
        $device[0].form.resource | Should -Be 'https://explicit.example.com'
        $device[1].tenant | Should -Be 'b-tenant.onmicrosoft.com'
        $device[1].form.resource | Should -Be 'https://b.example.com'
    }
}
