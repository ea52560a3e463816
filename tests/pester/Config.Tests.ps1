# The OData configuration commands: parameters and messages as in d365fo.integrations, the store they share with
# it (PSFramework's persisted user configuration), temporary entries, checks on every value, -WhatIf/-Confirm,
# tab completion, the settings, and an earlier version's store carried over. Every case runs in a fresh pwsh
# with its own HOME and XDG_CONFIG_HOME, so nothing touches the real user's files.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')

    function New-TestHome {
        $h = Join-Path ([IO.Path]::GetTempPath()) ("d365fo-cfg-" + [guid]::NewGuid().ToString('n'))
        New-Item -ItemType Directory -Path $h | Out-Null
        $h
    }

    function Get-TestEnvironment([string] $TestHome) {
        @{
            HOME                     = $TestHome
            XDG_CONFIG_HOME          = (Join-Path $TestHome 'xdg')
            APPDATA                  = (Join-Path $TestHome 'appdata')
            LOCALAPPDATA             = (Join-Path $TestHome 'localappdata')
            D365FO_CONFIG_FILE       = $null
            D365FO_CONFIG_DIR        = $null
            D365FO_AUTHORITY         = $null
            D365FO_ENDPOINT_VERSION  = $null
            D365FO_CLIENT_ID         = $null
            D365FO_NO_BROWSER        = $null
            D365FO_HTTP_TIMEOUT_SECS = $null
        }
    }

    # Where PSFramework (and so d365fo.integrations and this module) keeps the user's configuration here.
    function Get-StoreFile([string] $TestHome) { Join-Path $TestHome 'xdg/PowerShell/PSFramework/psf_config.json' }

    # Runs $Script in a fresh pwsh with the module imported and the test home; returns stdout lines.
    # Warnings are merged into the output (3>&1) so a test can assert the text a user sees.
    function Invoke-Config([string] $TestHome, [string] $Script, [hashtable] $Extra = @{}) {
        $envs = Get-TestEnvironment $TestHome
        foreach ($k in $Extra.Keys) { $envs[$k] = $Extra[$k] }
        $r = Invoke-ChildPwsh -Environment $envs -Command "Import-Module '$ModuleManifest'; & { $Script } 3>&1 | ForEach-Object { [string]`$_ }"
        if ($r.ExitCode -ne 0 -or $r.StdErr -match 'S="Error"') { throw "child pwsh failed ($($r.ExitCode)): $($r.StdErr)`n$($r.StdOut)" }
        @($r.StdOut -split "\r?\n" | Where-Object { $_ -ne '' })
    }

    function Get-ParameterFacts([string] $Command, [string] $Name) {
        $p = (Get-Command $Command).Parameters[$Name]
        $attr = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
        [pscustomobject]@{ Type = $p.ParameterType; Aliases = @($p.Aliases); Positions = @($attr.Position); Mandatory = @($attr.Mandatory) }
    }

    Import-Module $ModuleManifest -Force
    $script:ExistsMessage = 'An OData configuration with UAT as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter.'
    $script:Guid = 'e674da86-7ee5-40a7-b777-111111111111'
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

    It 'supports -WhatIf and -Confirm on every command that changes something' {
        foreach ($c in 'Add-D365ODataConfig', 'Set-D365ActiveODataConfig', 'Import-D365ODataConfig', 'Set-D365ODataInteractiveSetting', 'Set-D365ODataTokenInSession') {
            (Get-Command $c).Parameters.Keys | Should -Contain 'WhatIf' -Because $c
            (Get-Command $c).Parameters.Keys | Should -Contain 'Confirm' -Because $c
        }
    }
}

Describe 'Add-D365ODataConfig and Get-D365ODataConfig' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'saves into PSFramework''s file as d365fo.integrations does: one trailing slash removed, SystemUrl defaulting to Url, the secret as given' {
        $out = Invoke-Config $TestHome @"
Add-D365ODataConfig -Name UAT -Tenant '$Guid' -AuthenticationUrl 'https://uat.example.com/' -ClientId '$Guid' -ClientSecret 'Vja/Secret+1'
`$c = Get-D365ODataConfig -Name UAT
@(`$c.pstypenames | Where-Object { `$_ -like 'D365fo*' }).Count
`$c.pstypenames[0]; `$c.name; `$c.tenant; `$c.url; `$c.systemurl; `$c.clientid; `$c.clientsecret
(`$c | Format-List | Out-String) -match 'Vja/Secret'
(Get-D365ODataConfig -Name UAT -ShowSecret | Format-List | Out-String) -match 'Vja/Secret'
"@
        $out | Should -Be @('1', 'D365fo.Interactive.ODataConfig', 'UAT', $Guid, 'https://uat.example.com', 'https://uat.example.com', $Guid, 'Vja/Secret+1', 'False', 'True')
        $items = Get-Content -Raw (Get-StoreFile $TestHome) | ConvertFrom-Json
        ($items | Where-Object FullName -eq 'd365fo.integrations.odata.uat.name').Value | Should -Be 'UAT'
        ($items | Where-Object FullName -eq 'd365fo.integrations.odata.uat.clientsecret').Value | Should -Be 'Vja/Secret+1'
        ($items | Where-Object FullName -eq 'd365fo.integrations.odata.uat.url').Type | Should -Be 6
    }

    It 'takes the parameters by position and the $AADGuid and Uri aliases' {
        $out = Invoke-Config $TestHome @"
Add-D365ODataConfig 'Pos' 'tenant-a.onmicrosoft.com' 'https://a/' 'https://sys/' '$Guid' 'sec'
`$byAlias = @{ '`$AADGuid' = 'tenant-b.onmicrosoft.com'; Uri = 'https://b' }
Add-D365ODataConfig -Name Alias @byAlias
`$p = Get-D365ODataConfig Pos; `$a = Get-D365ODataConfig Alias
"`$(`$p.tenant)|`$(`$p.url)|`$(`$p.systemurl)|`$(`$p.clientid)"; "`$(`$a.tenant)|`$(`$a.url)|`$(`$a.systemurl)"
"@
        $out | Should -Be @("tenant-a.onmicrosoft.com|https://a|https://sys|$Guid", 'tenant-b.onmicrosoft.com|https://b|https://b')
    }

    It 'refuses an existing name (any case) without -Force with the original message; -Force changes only the values given' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Tenant one.example -Url https://uat.example.com -ClientSecret kept
Add-D365ODataConfig -Name uat -Tenant two.example
"q=$?"
Add-D365ODataConfig -Name UAT -Tenant three.example -Force
$c = Get-D365ODataConfig UAT -ShowSecret
"$($c.tenant)|$($c.url)|$($c.systemurl)|$($c.clientsecret)"
'@
        $out[0] | Should -Match ([regex]::Escape('[Add-D365ODataConfig] An OData configuration with uat as name already exists. If you want to overwrite the current configuration, please supply the -Force parameter.'))
        $out[1..2] | Should -Be @('q=False', 'three.example|https://uat.example.com|https://uat.example.com|kept')
    }

    It 'stops the script with ConfigurationExists with -EnableException' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT
try { Add-D365ODataConfig -Name UAT -EnableException; 'not stopped' } catch { $_.FullyQualifiedErrorId; [string]$_.CategoryInfo.Category; $_.Exception.Message }
'@
        $out | Should -Be @('ConfigurationExists', 'ResourceExists', $ExistsMessage)
    }

    It 'refuses <What> at once with a clear error and stores nothing' -TestCases @(
        @{ What = 'a tenant with a space'; Params = "-Tenant 'a b'"; Words = 'tenant' }
        @{ What = 'a Url that is not a URL'; Params = "-Url 'not a url'"; Words = 'Url' }
        @{ What = 'a SystemUrl of another scheme'; Params = "-SystemUrl 'ftp://x'"; Words = 'SystemUrl' }
        @{ What = 'plain http to a remote SystemUrl'; Params = "-Url https://x.example -SystemUrl 'http://remote.example.com'"; Words = 'plain http' }
        @{ What = 'a client id that is not a GUID'; Params = "-ClientId 'not-a-guid'"; Words = 'GUID' }
        @{ What = 'a name with a wildcard'; Params = "-Url https://x.example"; Name = 'U*'; Words = 'wildcard' }
    ) {
        $name = if ($Name) { $Name } else { 'Bad' }
        $out = Invoke-Config $TestHome "Add-D365ODataConfig -Name '$name' $Params; 'q=' + `$?; try { Add-D365ODataConfig -Name '$name' $Params -EnableException } catch { 'id=' + `$_.FullyQualifiedErrorId }"
        $out[0] | Should -Match $Words
        $out[1] | Should -Be 'q=False'
        $out[2] | Should -Be 'id=InvalidParameter'
        Test-Path (Get-StoreFile $TestHome) | Should -BeFalse
    }

    It 'changes nothing with -WhatIf and tells what it would do' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Url https://uat.example.com -WhatIf 6>&1
Add-D365ODataConfig -Name UAT -Url https://uat.example.com
Add-D365ODataConfig -Name UAT -Url https://other.example.com -Force -WhatIf 6>&1
Add-D365ODataConfig -Name UAT -Url https://other.example.com -SystemUrl https://s.example.com -Force -WhatIf 6>&1
Add-D365ODataConfig -Name UAT -Tenant fabrikam.onmicrosoft.com -Force -WhatIf 6>&1
(Get-D365ODataConfig UAT).url
'@
        ($out -join "`n") | Should -Match 'What if: .*Add the OData configuration'
        # Without -SystemUrl the Url is also the SystemUrl (as in d365fo.integrations), and the text says so.
        ($out -join "`n") | Should -Match 'What if: .*Change Url, SystemUrl of the existing OData configuration'
        ($out -join "`n") | Should -Match 'What if: .*Change Tenant of the existing OData configuration'
        @($out | Where-Object { "$_" -match 'Change Url, SystemUrl of' }).Count | Should -Be 2
        $out[-1] | Should -Be 'https://uat.example.com'
    }

    It 'returns hashtables with -OutputAsHashtable, the secret as stored' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Url https://uat.example.com -ClientSecret 's3cr3t'
$h = Get-D365ODataConfig UAT -OutputAsHashtable
$h.GetType().Name; ($h.Keys | Sort-Object) -join ','; $h.clientsecret
(Get-D365ActiveODataConfig -OutputAsHashtable -WarningAction SilentlyContinue) -eq $null
'@
        $out | Should -Be @('Hashtable', 'clientid,clientsecret,name,systemurl,tenant,url', 's3cr3t', 'True')
    }

    It 'matches names with wildcards, * by default, and says so when nothing matches' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Url https://u.example; Add-D365ODataConfig -Name Prod -Url https://p.example; Add-D365ODataConfig -Name Util -Url https://x.example
(Get-D365ODataConfig).name -join ','
(Get-D365ODataConfig -Name 'U*').name -join ','
Get-D365ODataConfig -Name 'nothing*'
"q=$?"
'@
        $out[0] | Should -Be 'Prod,UAT,Util'
        $out[1] | Should -Be 'UAT,Util'
        $out[2] | Should -Match 'No configurations found with the name'
        $out[3] | Should -Be 'q=False'
    }

    It 'keeps -Temporary configurations in the session only' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name Temp -Url https://t.example -Temporary
(Get-D365ODataConfig Temp).url
'@
        $out | Should -Be @('https://t.example')
        Test-Path (Get-StoreFile $TestHome) | Should -BeFalse
        (Invoke-Config $TestHome "Get-D365ODataConfig Temp -WarningAction SilentlyContinue; 'done'") | Should -Be @('done')
    }
}

Describe 'The active configuration' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'says clearly that none is active' {
        $out = Invoke-Config $TestHome 'Get-D365ActiveODataConfig; "q=$?"'
        $out[0] | Should -Match "It looks like there isn't configured an active OData configuration"
        $out[1] | Should -Be 'q=False'
    }

    It 'refuses wildcards and unknown names with the original messages' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name UAT -Url https://u.example
Set-D365ActiveODataConfig -Name 'U*'
Set-D365ActiveODataConfig -Name Nope
'@
        $out[0] | Should -Match 'The name cannot contain wildcard character'
        $out[1] | Should -Match "An OData configuration with that name doesn't exists"
    }

    It 'persists the active choice across processes with the name as stored, and -Temporary only in the session' {
        Invoke-Config $TestHome 'Add-D365ODataConfig -Name UAT -Url https://u.example; Add-D365ODataConfig -Name Prod -Url https://p.example; Set-D365ActiveODataConfig -Name uat' | Out-Null
        (Invoke-Config $TestHome '(Get-D365ActiveODataConfig).name') | Should -Be @('UAT')
        (Invoke-Config $TestHome 'Set-D365ActiveODataConfig -Name Prod -Temporary; (Get-D365ActiveODataConfig).name') | Should -Be @('Prod')
        (Invoke-Config $TestHome '(Get-D365ActiveODataConfig).name') | Should -Be @('UAT')
        $items = Get-Content -Raw (Get-StoreFile $TestHome) | ConvertFrom-Json
        ($items | Where-Object FullName -eq 'd365fo.integrations.active.odata.config.name').Value | Should -Be 'UAT'
    }

    It 'changes nothing with -WhatIf' {
        $out = Invoke-Config $TestHome 'Add-D365ODataConfig -Name UAT -Url https://u.example; Set-D365ActiveODataConfig -Name UAT -WhatIf 6>&1; Get-D365ActiveODataConfig -ErrorAction SilentlyContinue; "q=$?"'
        ($out -join "`n") | Should -Match 'What if: .*UAT'
        $out[-1] | Should -Be 'q=False'
    }
}

Describe 'The store' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'loses nothing when two processes add 50 configurations each at the same moment' {
        $envs = Get-TestEnvironment $TestHome
        $jobs = foreach ($p in 'A', 'B') {
            Start-ThreadJob -ArgumentList $p, $envs, $ModuleManifest, $PwshExe -ScriptBlock {
                param($p, $envs, $manifest, $pwsh)
                $psi = [Diagnostics.ProcessStartInfo]::new($pwsh)
                foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "Import-Module '$manifest'; 1..50 | ForEach-Object { Add-D365ODataConfig -Name ('$p' + `$_) -Url https://x.example }") { $psi.ArgumentList.Add($a) }
                foreach ($k in $envs.Keys) { if ($null -eq $envs[$k]) { $psi.Environment.Remove($k) | Out-Null } else { $psi.Environment[$k] = $envs[$k] } }
                $psi.UseShellExecute = $false
                $proc = [Diagnostics.Process]::Start($psi)
                $proc.WaitForExit()
                $proc.ExitCode
            }
        }
        ($jobs | Wait-Job -Timeout 240 | Receive-Job) | Should -Be @(0, 0)
        (Invoke-Config $TestHome '@(Get-D365ODataConfig).Count') | Should -Be @('100')
    }

    It 'keeps the items of other modules in the file, and refuses to write over a file it cannot read' {
        $file = Get-StoreFile $TestHome
        New-Item -ItemType Directory -Force (Split-Path $file) | Out-Null
        Set-Content -LiteralPath $file -Value '[{"FullName":"other.module.setting","Value":"keep me","Version":1,"Type":6,"Style":"default"}]'
        Invoke-Config $TestHome 'Add-D365ODataConfig -Name UAT -Url https://u.example' | Out-Null
        (Get-Content -Raw $file | ConvertFrom-Json | Where-Object FullName -eq 'other.module.setting').Value | Should -Be 'keep me'
        Set-Content -LiteralPath $file -Value '[{"FullName": '
        $out = Invoke-Config $TestHome 'Add-D365ODataConfig -Name Two -Url https://t.example; "q=$?"'
        $out[0] | Should -Match 'could not be read.*left unchanged'
        $out[1] | Should -Be 'q=False'
        Get-Content -Raw $file | Should -Be "[{`"FullName`": $([Environment]::NewLine)"
    }

    It 'is private to the owner on Unix (file 0600 once this module writes it)' -Skip:$IsWindows -Tag 'SkipReason: Unix only (file modes)' {
        Invoke-Config $TestHome 'Add-D365ODataConfig -Name UAT -Url https://u.example' | Out-Null
        ([int](Get-Item (Get-StoreFile $TestHome)).UnixFileMode -band 511) | Should -Be 384 -Because 'rw------- (0600)'
    }

    It 'lives in PSFramework''s folder under HOME when XDG_CONFIG_HOME is not set, and where D365FO_CONFIG_FILE says' -Skip:$IsWindows -Tag 'SkipReason: Unix only (Windows keeps the store in the registry)' {
        Invoke-Config $TestHome 'Add-D365ODataConfig -Name UAT -Url https://u.example' @{ XDG_CONFIG_HOME = $null } | Out-Null
        Test-Path (Join-Path $TestHome '.config/PowerShell/PSFramework/psf_config.json') | Should -BeTrue
        $elsewhere = Join-Path $TestHome 'elsewhere.json'
        Invoke-Config $TestHome 'Add-D365ODataConfig -Name Else -Url https://e.example' @{ D365FO_CONFIG_FILE = $elsewhere } | Out-Null
        (Get-Content -Raw $elsewhere) | Should -Match 'd365fo.integrations.odata.else.name'
    }

    It 'carries an earlier version''s own store over once, saying so, and keeps the old file' {
        $old = Join-Path $TestHome 'xdg/d365fo.interactive'
        New-Item -ItemType Directory -Force $old | Out-Null
        Set-Content (Join-Path $old 'config.json') '{"schema_version":1,"active":"Old","configurations":[{"name":"Old","tenant":"old.example","url":"https://old.example","clientsecret":{"protection":"none","value":"old-secret"}}],"settings":{"endpoint_version":"v2"}}'
        $out = Invoke-Config $TestHome '(Get-D365ActiveODataConfig 6>&1) | ForEach-Object { if ($_ -is [Management.Automation.InformationRecord]) { "info: $_" } else { "$($_.name)|$($_.clientsecret)" } }; (Get-D365ODataInteractiveSetting EndpointVersion).Value'
        ($out -join "`n") | Should -Match 'info: Moved 1 OData configuration\(s\) \(Old\)'
        $out | Should -Contain 'Old|old-secret'
        $out[-1] | Should -Be 'v2'
        Test-Path (Join-Path $old 'config.json') | Should -BeFalse
        @(Get-ChildItem $old -Filter 'config.json.migrated-*').Count | Should -Be 1
        (Invoke-Config $TestHome 'Get-D365ActiveODataConfig 6>&1 | ForEach-Object { "$_" }') -join "`n" | Should -Not -Match 'Moved'
    }
}

Describe 'Tab completion' {
    It 'completes configuration names for every -Name, quoting names with spaces' {
        $TestHome = New-TestHome
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name 'UAT env' -Url https://u.example; Add-D365ODataConfig -Name Prod -Url https://p.example
foreach ($c in 'Get-D365ODataConfig -Name ', 'Set-D365ActiveODataConfig -Name ', 'Add-D365ODataConfig -Name ') {
    ((TabExpansion2 $c $c.Length).CompletionMatches.CompletionText) -join ','
}
'@
        $out | Should -Be @("Prod,'UAT env'", "Prod,'UAT env'", "Prod,'UAT env'")
    }
}

Describe 'Module settings' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'shows each effective value and its source: environment, stored, default' {
        $out = Invoke-Config $TestHome @'
Set-D365ODataInteractiveSetting -EndpointVersion v2
Get-D365ODataInteractiveSetting | ForEach-Object { "$($_.Name)=$($_.Value)@$($_.Source)" }
'@ @{ D365FO_NO_BROWSER = '1' }
        $out | Should -Contain 'EndpointVersion=v2@Stored'
        $out | Should -Contain 'NoBrowser=True@Environment'
        $out | Should -Contain 'Authority=https://login.microsoftonline.com@Default'
        $out | Should -Contain 'ClientId=1950a258-227b-4e31-a9cf-717495945fc2@Default'
        $out | Should -Contain 'HttpTimeoutSeconds=30@Default'
    }

    It 'stores settings in the shared file, warns when an environment variable overrides one, and resets them' {
        $out = Invoke-Config $TestHome @'
Set-D365ODataInteractiveSetting -ClientId 11111111-2222-3333-4444-555555555555 -NoBrowser $true -HttpTimeoutSeconds 12
(Get-D365ODataInteractiveSetting ClientId).Source
Set-D365ODataInteractiveSetting -Reset ClientId, NoBrowser
(Get-D365ODataInteractiveSetting ClientId).Value; (Get-D365ODataInteractiveSetting NoBrowser).Value; (Get-D365ODataInteractiveSetting HttpTimeoutSeconds).Value
Set-D365ODataInteractiveSetting -Authority https://login.microsoftonline.us
'@ @{ D365FO_AUTHORITY = 'https://login.partner.microsoftonline.cn' }
        $out[0..3] | Should -Be @('Stored', '1950a258-227b-4e31-a9cf-717495945fc2', 'False', '12')
        $out[4] | Should -Match 'D365FO_AUTHORITY is set and overrides the stored Authority'
        $items = Get-Content -Raw (Get-StoreFile $TestHome) | ConvertFrom-Json
        ($items | Where-Object FullName -eq 'd365fo.interactive.authority').Value | Should -Be 'https://login.microsoftonline.us'
        ($items | Where-Object FullName -eq 'd365fo.interactive.clientid') | Should -BeNullOrEmpty
        $timeout = $items | Where-Object FullName -eq 'd365fo.interactive.httptimeoutseconds'
        ($timeout.Value, $timeout.Type) | Should -Be @('12', 3) -Because 'a number is stored as PSFramework stores an [int]'
    }

    It 'refuses what the sign-in would refuse, naming it, and stores nothing' -TestCases @(
        @{ Params = '-EndpointVersion v3'; Words = 'v1 or v2' }
        @{ Params = '-Authority http://login.evil.example'; Words = 'plain http' }
        @{ Params = "-Authority 'http://127.0.0.1.evil.com'"; Words = 'plain http' }
        @{ Params = "-Authority 'https://user:pw@login.example'"; Words = 'user name or password' }
        @{ Params = '-ClientId not-a-guid'; Words = 'GUID' }
        @{ Params = '-HttpTimeoutSeconds 0'; Words = '1 to 600' }
        @{ Params = '-Reset Nonsense'; Words = "no setting 'Nonsense'" }
    ) {
        $out = Invoke-Config $TestHome "Set-D365ODataInteractiveSetting $Params; 'q=' + `$?"
        $out[0] | Should -Match $Words
        $out[0] | Should -Not -Match 'pw@'
        $out[1] | Should -Be 'q=False'
        Test-Path (Get-StoreFile $TestHome) | Should -BeFalse
    }
}

Describe 'Import-D365ODataConfig from another PSFramework file' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'copies the configurations and active choice of a file or folder, secrets included, leaving the source unchanged' {
        $src = Join-Path $RepoRoot 'tests/fixtures/psframework/xdg/PowerShell/PSFramework'
        $before = Get-FileHash (Join-Path $src 'psf_config.json')
        $out = Invoke-Config $TestHome "(Import-D365ODataConfig -Path '$src' | ForEach-Object name | Sort-Object) -join ','; (Get-D365ActiveODataConfig).name; (Get-D365ODataConfig UAT).clientsecret"
        # Taking over the source's active choice is said (a warning, merged into the output here).
        $out[0] | Should -Match "\[Import-D365ODataConfig\] 'UAT' becomes the active OData configuration"
        $out[1] | Should -Be 'Prod,UAT'
        $out[2] | Should -Be 'UAT'
        $out[3] | Should -Not -BeNullOrEmpty
        (Get-FileHash (Join-Path $src 'psf_config.json')).Hash | Should -Be $before.Hash
    }

    It 'skips names that exist unless -Force, imports only the names asked for, and changes nothing with -WhatIf' {
        $src = Join-Path $RepoRoot 'tests/fixtures/psframework/xdg/PowerShell/PSFramework/psf_config.json'
        $out = Invoke-Config $TestHome @"
Import-Module '$ModuleManifest'
Import-D365ODataConfig -Path '$src' -Name Prod -WhatIf 6>&1 | ForEach-Object { "`$_" }
@(Get-D365ODataConfig -ErrorAction SilentlyContinue).Count
Add-D365ODataConfig -Name UAT -Url https://mine.example
Import-D365ODataConfig -Path '$src' | ForEach-Object name
(Get-D365ODataConfig UAT).url
Import-D365ODataConfig -Path '$src' -Name UAT -Force | ForEach-Object name
"@
        ($out -join "`n") | Should -Match 'What if: .*Prod'
        $out | Should -Contain '0'
        ($out -join "`n") | Should -Match 'An OData configuration with UAT as name already exists. It was not imported'
        $out | Should -Contain 'https://mine.example'
        $out[-1] | Should -Be 'UAT'
    }

    It 'checks each value as Add-D365ODataConfig does: what the sign-in would refuse is left out, with a warning naming why' {
        $file = Join-Path $TestHome 'mixed.json'
        $item = { param($k, $v) @{ FullName = "d365fo.integrations.odata.$k"; Value = $v; Version = 1; Type = 6; Style = 'default' } }
        ConvertTo-Json -InputObject @((& $item 'good.name' 'Good'), (& $item 'good.url' 'https://good.example.com'),
            (& $item 'badurl.name' 'BadUrl'), (& $item 'badurl.url' 'not a url'),
            (& $item 'badclient.name' 'BadClient'), (& $item 'badclient.clientid' 'cid')) | Set-Content -LiteralPath $file
        $out = Invoke-Config $TestHome "Import-D365ODataConfig -Path '$file' 3>&1 | ForEach-Object { if (`$_ -is [Management.Automation.WarningRecord]) { 'W: ' + `$_.Message } else { 'O: ' + `$_.name } }; (Get-D365ODataConfig | ForEach-Object { `$_.name + '|' + `$_.systemurl }) -join ','"
        $out | Should -Contain 'O: Good'
        ($out -join "`n") | Should -Match 'W: \[\d\d:\d\d:\d\d\]\[Import-D365ODataConfig\] The OData configuration BadUrl was not imported: .*not an absolute http\(s\) URL'
        ($out -join "`n") | Should -Match 'W: \[\d\d:\d\d:\d\d\]\[Import-D365ODataConfig\] The OData configuration BadClient was not imported: .*GUID'
        $out[-1] | Should -Be 'Good|https://good.example.com' -Because 'only the good one was stored, its SystemUrl taken from the Url'
    }

    It 'says when a path has nothing to import' {
        $empty = Join-Path $TestHome 'empty'
        New-Item -ItemType Directory $empty | Out-Null
        $out = Invoke-Config $TestHome "Import-D365ODataConfig -Path '$empty'; Import-D365ODataConfig -Path '$(Join-Path $TestHome 'missing.json')'"
        $out[0] | Should -Match 'No OData configurations matching'
        $out[1] | Should -Match 'does not exist'
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

Describe 'Names, SystemUrl and wording that d365fo.integrations depends on' {
    BeforeEach { $script:TestHome = New-TestHome }

    It 'refuses a new name with a dot, saying why, and still lists and loads dotted names made elsewhere' {
        $out = Invoke-Config $TestHome "Add-D365ODataConfig -Name uat.v2 -Url https://uat2.example.com -ClientSecret TOPSECRET; 'q=' + `$?"
        $out[0] | Should -Match ([regex]::Escape("[Add-D365ODataConfig] The name 'uat.v2' contains a dot"))
        $out[0] | Should -Match "mix this one into the configuration named 'uat'"
        $out[0] | Should -Not -Match 'TOPSECRET'
        $out[1] | Should -Be 'q=False'
        Test-Path (Get-StoreFile $TestHome) | Should -BeFalse
        $item = { param($k, $v) @{ FullName = "d365fo.integrations.odata.$k"; Value = $v; Version = 1; Type = 6; Style = 'default' } }
        New-Item -ItemType Directory -Force (Split-Path (Get-StoreFile $TestHome)) | Out-Null
        ConvertTo-Json -InputObject @((& $item 'uat.name' 'UAT'), (& $item 'uat.url' 'https://uat.example.com'),
            (& $item 'uat.v2.name' 'uat.v2'), (& $item 'uat.v2.url' 'https://uat2.example.com')) | Set-Content -LiteralPath (Get-StoreFile $TestHome)
        $out = Invoke-Config $TestHome "(Get-D365ODataConfig | ForEach-Object name) -join ','; Set-D365ActiveODataConfig -Name uat.v2; (Get-D365ActiveODataConfig).url"
        $out | Should -Be @('UAT,uat.v2', 'https://uat2.example.com')
    }

    It 'never stores a plain http SystemUrl to another machine taken from the Url, asking for -SystemUrl https://' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name Remote -Url http://contoso.operations.dynamics.com; "q=$?"
Add-D365ODataConfig -Name Remote -Url http://contoso.operations.dynamics.com -Temporary; "t=$?"
Add-D365ODataConfig -Name Talent -Url http://hr.talent.dynamics.com -SystemUrl https://contoso.hr.talent.dynamics.com
Add-D365ODataConfig -Name Local -Url http://127.0.0.1:8080
Add-D365ODataConfig -Name Later -Url https://later.example.com
Add-D365ODataConfig -Name Later -Url http://later.example.com -Force; "f=$?"
Get-D365ODataConfig | ForEach-Object { $_.name + '|' + $_.url + '|' + $_.systemurl }
'@
        $out[0] | Should -Match 'uses plain http to a host that is not this machine.*-SystemUrl https://'
        $out[1..2] | Should -Be @('q=False', ($out[2]))
        $out | Should -Contain 't=False'
        $out | Should -Contain 'f=False'
        $out | Should -Contain 'Talent|http://hr.talent.dynamics.com|https://contoso.hr.talent.dynamics.com'
        $out | Should -Contain 'Local|http://127.0.0.1:8080|http://127.0.0.1:8080'
        $out | Should -Contain 'Later|https://later.example.com|https://later.example.com'
        ($out | Where-Object { $_ -like 'Remote|*' }) | Should -BeNullOrEmpty
    }

    It 'moves the SystemUrl with a new Url under -Force only when it was the Url' {
        $out = Invoke-Config $TestHome @'
Add-D365ODataConfig -Name dist -Url https://dist.example.com -SystemUrl https://dist-api.example.com
Add-D365ODataConfig -Name same -Url https://same.example.com
Add-D365ODataConfig -Name dist -Url https://dist2.example.com -Force
Add-D365ODataConfig -Name same -Url https://same2.example.com -Force
Get-D365ODataConfig | ForEach-Object { $_.name + '|' + $_.url + '|' + $_.systemurl }
'@
        $out | Should -Be @('dist|https://dist2.example.com|https://dist-api.example.com', 'same|https://same2.example.com|https://same2.example.com')
    }

    It 'lower-cases names for their keys in the current culture, as the original''s ToLower() does, and finds them the same way' {
        $out = Invoke-Config $TestHome @'
[cultureinfo]::CurrentCulture = 'tr-TR'
"turkish=$('I'.ToLower())"
Add-D365ODataConfig -Name INVOICE -Url https://invoice.example.com
Set-D365ActiveODataConfig -Name INVOICE; "tr-active=$((Get-D365ActiveODataConfig).name)"
[cultureinfo]::CurrentCulture = 'en-US'
Add-D365ODataConfig -Name 'İstanbul' -Url https://istanbul.example.com
Set-D365ActiveODataConfig -Name 'İstanbul'; "en-active=$((Get-D365ActiveODataConfig).url)"
[cultureinfo]::CurrentCulture = [cultureinfo]::InvariantCulture
Add-D365ODataConfig -Name 'İzmir' -Url https://izmir.example.com
Set-D365ActiveODataConfig -Name INVOICE -WarningAction SilentlyContinue; "invariant-finds-ınvoıce=$?"
(Get-Content -Raw -LiteralPath (Join-Path $env:XDG_CONFIG_HOME 'PowerShell/PSFramework/psf_config.json') | ConvertFrom-Json | ForEach-Object FullName | Where-Object { $_ -like '*.url' }) -join ','
'@
        $out | Should -Contain 'turkish=ı' -Because 'the case needs .NET with ICU (not the invariant globalization mode)'
        $out | Should -Contain 'tr-active=INVOICE'
        $out | Should -Contain 'en-active=https://istanbul.example.com'
        $out | Should -Contain 'invariant-finds-ınvoıce=False' -Because 'in the invariant culture INVOICE is the key invoice, as for the original'
        $keys = $out[-1] -split ','
        ($keys -ccontains 'd365fo.integrations.odata.ınvoıce.url') | Should -BeTrue -Because 'tr-TR lower-cases I to ı'
        ($keys -ccontains 'd365fo.integrations.odata.istanbul.url') | Should -BeTrue -Because 'a culture lower-cases İ to i'
        ($keys -ccontains 'd365fo.integrations.odata.İzmir.url') | Should -BeTrue -Because 'the invariant culture keeps İ'
    }

    It 'says what a tenant contains: a line break is not a space' {
        $out = Invoke-Config $TestHome 'Add-D365ODataConfig -Name T -Tenant "contoso`nfabrikam"' 
        # One line of output comes back as a string, not an array: join instead of indexing.
        $text = @($out) -join "`n"
        $text | Should -Match 'contains a line break'
        $text | Should -Not -Match 'space'
    }

    It 'gives one warning, with the usual prefix, for a corrupt file given to Import-D365ODataConfig' {
        $file = Join-Path $TestHome 'corrupt.json'
        Set-Content -LiteralPath $file -Value '[{"FullName": "d365fo.integrations.odata.a.name", "Value": '
        $out = Invoke-Config $TestHome "Import-D365ODataConfig -Path '$file' 3>&1 | ForEach-Object { if (`$_ -is [Management.Automation.WarningRecord]) { 'W: ' + `$_.Message } else { 'O: ' + `$_ } }; 'q=' + `$?"
        @($out | Where-Object { $_ -like 'W: *' }).Count | Should -Be 1 -Because ($out -join "`n")
        $out[0] | Should -Match '^W: \[\d\d:\d\d:\d\d\]\[Import-D365ODataConfig\] Nothing was imported: the PSFramework configuration file could not be read \(.*corrupt\.json'
        $out[-1] | Should -Be 'q=False'
    }

    It 'warns when an imported SystemUrl is on another host than its Url, and when it takes over the active choice' {
        $file = Join-Path $TestHome 'far.json'
        $item = { param($k, $v) @{ FullName = "d365fo.integrations.$k"; Value = $v; Version = 1; Type = 6; Style = 'default' } }
        ConvertTo-Json -InputObject @((& $item 'odata.far.name' 'Far'), (& $item 'odata.far.url' 'https://uat.example.com'),
            (& $item 'odata.far.systemurl' 'https://collector.example.net'), (& $item 'active.odata.config.name' 'Far')) | Set-Content -LiteralPath $file
        $out = Invoke-Config $TestHome "Import-D365ODataConfig -Path '$file' 3>&1 | ForEach-Object { if (`$_ -is [Management.Automation.WarningRecord]) { 'W: ' + `$_.Message } else { 'O: ' + `$_.name } }; (Get-D365ActiveODataConfig).name"
        $warnings = @($out | Where-Object { $_ -like 'W: *' })
        $warnings.Count | Should -Be 2 -Because ($out -join "`n")
        $warnings[0] | Should -Match "\[Import-D365ODataConfig\] The OData configuration 'Far' has its SystemUrl on another host \(collector\.example\.net\) than its Url \(uat\.example\.com\)"
        $warnings[1] | Should -Match "'Far' becomes the active OData configuration"
        $out[-1] | Should -Be 'Far'
    }

    It 'Get-D365ODataInteractiveSetting reports an unreadable store as an error' {
        $store = Join-Path $TestHome 'store.json'
        Set-Content -LiteralPath $store -Value '[{"FullName": "x'
        $envs = Get-TestEnvironment $TestHome
        $envs['D365FO_CONFIG_FILE'] = $store
        $r = Invoke-ChildPwsh -Environment $envs -Command "Import-Module '$ModuleManifest'; `$all = Get-D365ODataInteractiveSetting 2>&1; foreach (`$e in `$all) { if (`$e -is [Management.Automation.ErrorRecord]) { 'E: ' + [string]`$e.CategoryInfo.Category + ' ' + `$e.Exception.Message } else { 'O: ' + `$e.Name } }"
        $lines = @($r.StdOut -split "\r?\n" | Where-Object { $_ })
        $lines.Count | Should -Be 1 -Because $r.StdOut
        $lines[0] | Should -Match "^E: ReadError The configuration store '.*store\.json' .*could not be read"
    }

    It 'carries over an earlier store whose secret is a plain string without echoing the secret anywhere' {
        $old = Join-Path $TestHome 'xdg/d365fo.interactive'
        New-Item -ItemType Directory -Force $old | Out-Null
        Set-Content (Join-Path $old 'config.json') '{"configurations":[{"name":"Old","url":"https://old.example","clientsecret":"Q~TopSecret.Value_1234567890abcdef"}]}'
        $envs = Get-TestEnvironment $TestHome
        $r = Invoke-ChildPwsh -Environment $envs -Command "Import-Module '$ModuleManifest'; Get-D365ODataConfig -Verbose -Debug *>&1 | ForEach-Object { 'S: ' + `$_ }; `$Error | ForEach-Object { 'E: ' + `$_ }"
        ($r.StdOut + $r.StdErr) | Should -Not -Match 'TopSecret'
        $r.StdOut | Should -Match 'could not be read \(it is not laid out as version 0\.1 wrote it: line 1, column \d+\)'
        Test-Path (Join-Path $old 'config.json') | Should -BeTrue -Because 'the old file is left where it is'
    }
}
