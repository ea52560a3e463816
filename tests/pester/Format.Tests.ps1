# How the module's objects display by default. The module ships no format data (its set-up would cost every
# process that imports the module about 25 ms): each object names its default properties
# (PSStandardMembers.DefaultDisplayPropertySet). A configuration shows as a list, so the full Url stays readable at
# 80 columns; its client secret shows only on objects returned with -ShowSecret; settings show as a table.
# The objects come from the real commands, against a store file of this test. The token object's display is
# tested with a real sign-in in SignIn.Tests.ps1. Written for Windows PowerShell 5.1 as well: CI runs this file
# under powershell.exe on Windows.

BeforeAll {
    $script:SavedStore = $env:D365FO_CONFIG_FILE
    $env:D365FO_CONFIG_FILE = Join-Path $TestDrive 'psf_config.json'
    Import-Module (Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1') -Force
    $script:Secret = 'Sup3r~SECRETMIDDLE~value'
    $script:LongUrl = 'https://contoso-uat-finance.sandbox.operations.dynamics.com'
    $script:VeryLongUrl = 'https://contoso-uat-environment-with-a-very-long-name.sandbox.operations.dynamics.com'
    Add-D365ODataConfig -Name UAT -Tenant 'e674da86-7ee5-40a7-b777-111111111111' -Url $LongUrl `
        -ClientId 'dea8d7a9-1602-4429-b138-111111111111' -ClientSecret $Secret -EnableException
    Add-D365ODataConfig -Name Long -Tenant 'contoso.onmicrosoft.com' -Url $VeryLongUrl -EnableException
    $script:Config = Get-D365ODataConfig -Name UAT -EnableException
    $script:ConfigShown = Get-D365ODataConfig -Name UAT -ShowSecret -EnableException
    function Get-Lines([string] $Text) { @($Text -split '\r?\n' | Where-Object { $_.Trim() }) }
}

AfterAll {
    Remove-Module d365fo.interactive -ErrorAction SilentlyContinue
    $env:D365FO_CONFIG_FILE = $SavedStore
}

Describe 'The module''s display' {
    It 'ships no format data (every object names its own default properties)' {
        (Get-Module d365fo.interactive).ExportedFormatFiles | Should -BeNullOrEmpty
        @(Get-FormatData -TypeName 'D365fo.Interactive.*').Count | Should -Be 0
    }
}

Describe 'A configuration' {
    It 'shows name, tenant, the full Url and SystemUrl and the client id as a list at 80 columns, without the secret' {
        $text = $Config | Out-String -Width 80
        $text | Should -Match 'name\s+: UAT'
        $text | Should -Match 'tenant\s+: e674da86-7ee5-40a7-b777-111111111111'
        $text | Should -Match ('url\s+: ' + [regex]::Escape($LongUrl) + '\s*(\r?\n|$)')
        $text | Should -Match ('systemurl\s+: ' + [regex]::Escape($LongUrl))
        $text | Should -Match 'clientid\s+: dea8d7a9-1602-4429-b138-111111111111'
        $text | Should -Not -Match 'clientsecret'
        $text | Should -Not -Match 'SECRETMIDDLE'
    }

    It 'still carries the real secret, as d365fo.integrations'' objects do' {
        $Config.clientsecret | Should -Be $Secret
    }

    It 'has one type name of this module' {
        @($Config.PSObject.TypeNames | Where-Object { $_ -like 'D365fo.*' }) | Should -Be @('D365fo.Interactive.ODataConfig')
        @($ConfigShown.PSObject.TypeNames | Where-Object { $_ -like 'D365fo.*' }) | Should -Be @('D365fo.Interactive.ODataConfigWithSecret')
    }

    It 'wraps a Url longer than the line instead of cutting it' {
        $text = Get-D365ODataConfig -Name Long | Out-String -Width 80
        ($text -replace '\r?\n\s+', '') | Should -Match ('url\s+: ' + [regex]::Escape($VeryLongUrl))
        foreach ($line in Get-Lines $text) { $line.TrimEnd().Length | Should -BeLessOrEqual 80 }
    }

    It 'shows the secret in the list and in Format-Table for objects returned with -ShowSecret' {
        ($ConfigShown | Out-String -Width 80) | Should -Match ('clientsecret\s+: ' + [regex]::Escape($Secret))
        ($ConfigShown | Format-Table | Out-String -Width 300) | Should -Match ([regex]::Escape($Secret))
        ($Config | Format-Table | Out-String -Width 300) | Should -Not -Match 'SECRETMIDDLE'
        ($Config | Format-List | Out-String -Width 300) | Should -Not -Match 'SECRETMIDDLE'
    }

    It 'shows the same from Get-D365ActiveODataConfig' {
        Set-D365ActiveODataConfig -Name UAT -EnableException
        (Get-D365ActiveODataConfig | Out-String -Width 80) | Should -Not -Match 'SECRETMIDDLE'
        (Get-D365ActiveODataConfig -ShowSecret | Out-String -Width 80) | Should -Match 'SECRETMIDDLE'
    }
}

Describe 'A setting' {
    It 'shows as a table of name, value, source and problem' {
        $lines = Get-Lines (Get-D365ODataInteractiveSetting | Out-String -Width 200)
        $lines[0] | Should -Match '^Name\s+Value\s+Source\s+Problem\s*$'
        ($lines -join "`n") | Should -Match 'EndpointVersion\s+v[12]\s+(Default|Environment)'
    }
}
