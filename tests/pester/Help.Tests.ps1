# Every exported command has full help (built into MAML from module/help/*.md), and the about topic is there.
# The commands are discovered from the built module, so a command added later is checked without editing this file.
# Written for Windows PowerShell 5.1 as well: CI runs this file under powershell.exe on Windows.

BeforeDiscovery {
    $manifest = Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1'
    Import-Module $manifest -Force
    $commands = @(Get-Command -Module d365fo.interactive | Sort-Object Name | ForEach-Object { @{ Name = $_.Name } })
}

BeforeAll {
    $script:Manifest = Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1'
    Import-Module $script:Manifest -Force
    $script:CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    function Get-ParaText($Paragraphs) { (@($Paragraphs) | ForEach-Object { $_.Text }) -join "`n" }
}

Describe 'Help of <Name>' -ForEach $commands {
    BeforeAll {
        $help = Get-Help $Name -Full
        $command = Get-Command $Name
        $parameters = @($command.Parameters.Values | Where-Object { $CommonParameters -notcontains $_.Name })
    }

    It 'has a synopsis that is not the syntax' {
        $synopsis = "$($help.Synopsis)".Trim()
        $synopsis | Should -Not -BeNullOrEmpty
        # Without help, PowerShell makes the synopsis out of the syntax ("Name [[-P] <T>] ...").
        $synopsis | Should -Not -Match ('^' + [regex]::Escape($Name) + '(\s|$)')
        $synopsis | Should -Not -Be (Get-Command $Name -Syntax).Trim()
    }

    It 'has a description' {
        Get-ParaText $help.description | Should -Match '\w{3,}'
    }

    It 'has examples, each with code and remarks' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 1
        foreach ($e in $examples) {
            "$($e.code)".Trim() | Should -Not -BeNullOrEmpty -Because "$($e.title) needs code"
            Get-ParaText $e.remarks | Should -Match '\w{3,}' -Because "$($e.title) needs remarks"
        }
    }

    It 'describes every parameter' {
        $undocumented = foreach ($p in $parameters) {
            $h = @($help.parameters.parameter) | Where-Object { $_.name -eq $p.Name }
            if (-not $h -or -not ((Get-ParaText $h.description) -match '\w{3,}')) { $p.Name }
        }
        $undocumented | Should -BeNullOrEmpty -Because 'every parameter needs a description in module/help'
    }

    It 'documents no parameter the command does not have' {
        $extra = @($help.parameters.parameter) | Where-Object { $_ -and -not $command.Parameters.ContainsKey($_.name) } | ForEach-Object { $_.name }
        $extra | Should -BeNullOrEmpty
    }

    It 'states each parameter''s type, required, pipeline input and aliases as the command declares them' {
        foreach ($p in $parameters) {
            $h = @($help.parameters.parameter) | Where-Object { $_.name -eq $p.Name } | Select-Object -First 1
            if (-not $h) { continue }  # reported by 'describes every parameter'
            $h.type.name | Should -Be $p.ParameterType.Name -Because "the type of -$($p.Name)"
            $attributes = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
            @($attributes | ForEach-Object { $_.Mandatory }) | Should -Contain ([bool]::Parse($h.required)) -Because "-$($p.Name) Required"
            $byValue = @($attributes | Where-Object { $_.ValueFromPipeline }).Count -gt 0
            $byName = @($attributes | Where-Object { $_.ValueFromPipelineByPropertyName }).Count -gt 0
            ("$($h.pipelineInput)" -match '^True') | Should -Be ($byValue -or $byName) -Because "-$($p.Name) Accept pipeline input"
            ("$($h.pipelineInput)" -match 'ByValue') | Should -Be $byValue -Because "-$($p.Name) Accept pipeline input"
            ("$($h.pipelineInput)" -match 'ByPropertyName') | Should -Be $byName -Because "-$($p.Name) Accept pipeline input"
            $helpAliases = @("$($h.aliases)" -split '\s*,\s*' | Where-Object { $_ -and $_ -ne 'none' } | Sort-Object)
            ($helpAliases -join ',') | Should -Be ((@($p.Aliases) | Sort-Object) -join ',') -Because "the aliases of -$($p.Name)"
        }
    }

    It 'lists the positional parameters in the order the command binds them' {
        $declared = @($parameters | ForEach-Object {
                $pos = @($_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.Position -ge 0 } | ForEach-Object { $_.Position })
                if ($pos.Count) { [pscustomobject]@{ Name = $_.Name; Position = ($pos | Measure-Object -Minimum).Minimum } }
            } | Sort-Object Position | ForEach-Object { $_.Name })
        $documented = @(@($help.parameters.parameter) | Where-Object { "$($_.position)" -match '^\d+$' } | Sort-Object { [int]$_.position } | ForEach-Object { $_.name })
        ($documented -join ',') | Should -Be ($declared -join ',')
    }

    It 'has related links' {
        @($help.relatedLinks.navigationLink | Where-Object { "$($_.linkText)".Trim() }).Count | Should -BeGreaterOrEqual 1
    }
}

Describe 'about_d365fo.interactive' {
    BeforeAll {
        # As after an install: the module's folder is on PSModulePath.
        $env:PSModulePath = (Split-Path $env:D365FO_TEST_MODULE) + [IO.Path]::PathSeparator + $env:PSModulePath
        $about = Get-Help about_d365fo.interactive | Out-String -Width 250
    }

    It 'is found by Get-Help' {
        $about | Should -Match 'about_d365fo.interactive'
        $about | Should -Match 'SHORT DESCRIPTION'
    }

    It 'covers <Topic>' -ForEach @(
        @{ Topic = 'the flow'; Pattern = 'THE SIGN-IN FLOW' }
        @{ Topic = 'the configuration'; Pattern = 'Set-D365ActiveODataConfig' }
        @{ Topic = 'the module settings'; Pattern = 'Set-D365ODataInteractiveSetting' }
        @{ Topic = 'D365FO_AUTHORITY'; Pattern = 'D365FO_AUTHORITY' }
        @{ Topic = 'D365FO_ENDPOINT_VERSION'; Pattern = 'D365FO_ENDPOINT_VERSION' }
        @{ Topic = 'D365FO_CLIENT_ID'; Pattern = 'D365FO_CLIENT_ID' }
        @{ Topic = 'D365FO_NO_BROWSER'; Pattern = 'D365FO_NO_BROWSER' }
        @{ Topic = 'proxy variables'; Pattern = 'HTTPS_PROXY[\s\S]*HTTP_PROXY[\s\S]*ALL_PROXY[\s\S]*NO_PROXY' }
        @{ Topic = 'the Windows system proxy'; Pattern = 'system proxy' }
        @{ Topic = 'US Government'; Pattern = 'https://login\.microsoftonline\.us' }
        @{ Topic = 'China'; Pattern = 'https://login\.partner\.microsoftonline\.cn' }
        @{ Topic = 'headless use'; Pattern = 'HEADLESS' }
        @{ Topic = 'Conditional Access'; Pattern = 'AADSTS50097[\s\S]*AADSTS53003[\s\S]*AADSTS530033' }
        @{ Topic = 'AADSTS7000218'; Pattern = 'AADSTS7000218[\s\S]*Allow public client flows' }
        @{ Topic = 'AADSTS65002'; Pattern = 'AADSTS65002[\s\S]*own application' }
        @{ Topic = 'AADSTS50196'; Pattern = 'AADSTS50196' }
    ) {
        $about | Should -Match $Pattern
    }
}

Describe 'The help build (.build/Help.ps1)' {
    BeforeAll {
        $repo = $env:D365FO_TEST_REPO
        $helpScript = Join-Path $repo '.build/Help.ps1'
        function Invoke-HelpBuild([string] $Source, [string] $Module) { & { . $helpScript; Build-Help -SourceDir $Source -ModuleDir $Module } 6>$null }
    }

    It 'has a markdown source for every exported command' {
        $sources = @(Get-ChildItem (Join-Path $env:D365FO_TEST_REPO 'module/help') -Filter '*.md' | ForEach-Object { $_.BaseName })
        $missing = @(Get-Command -Module d365fo.interactive | Where-Object { $sources -notcontains $_.Name } | ForEach-Object { $_.Name })
        $missing | Should -BeNullOrEmpty
    }

    It 'writes MAML with the http:// namespaces, one command element per command' {
        [xml]$maml = Get-Content -Raw (Join-Path $env:D365FO_TEST_MODULE 'en-US/d365fo.interactive.dll-Help.xml')
        $maml.DocumentElement.NamespaceURI | Should -Be 'http://msh'
        $ns = New-Object System.Xml.XmlNamespaceManager $maml.NameTable
        $ns.AddNamespace('command', 'http://schemas.microsoft.com/maml/dev/command/2004/10')
        $names = @($maml.SelectNodes('//command:command/command:details/command:name', $ns) | ForEach-Object { $_.InnerText })
        $names | Should -Be @(Get-Command -Module d365fo.interactive | Sort-Object Name | ForEach-Object { $_.Name })
    }

    It 'writes only when the content changed' {
        $src = Join-Path $TestDrive 'help'
        $mod = Join-Path $TestDrive 'module'
        Copy-Item -Recurse (Join-Path $env:D365FO_TEST_REPO 'module/help') $src
        Invoke-HelpBuild $src $mod
        $maml = Join-Path $mod 'en-US/d365fo.interactive.dll-Help.xml'
        $about = Join-Path $mod 'en-US/about_d365fo.interactive.help.txt'
        $before = @((Get-Item $maml).LastWriteTimeUtc, (Get-Item $about).LastWriteTimeUtc)
        $bytes = [IO.File]::ReadAllBytes($maml)
        Start-Sleep -Milliseconds 1100
        Invoke-HelpBuild $src $mod
        @((Get-Item $maml).LastWriteTimeUtc, (Get-Item $about).LastWriteTimeUtc) | Should -Be $before
        [IO.File]::ReadAllBytes($maml) | Should -Be $bytes

        $md = Join-Path $src 'Set-D365ODataTokenInSession.md'
        # Whatever the synopsis says today: the line after '## SYNOPSIS'.
        (Get-Content -Raw $md) -replace '(?m)(?<=^## SYNOPSIS\r?\n).+$', 'A changed synopsis' | Set-Content $md
        Invoke-HelpBuild $src $mod
        (Get-Item $maml).LastWriteTimeUtc | Should -BeGreaterThan $before[0]
        Get-Content -Raw $maml | Should -Match 'A changed synopsis'
        (Get-Item $about).LastWriteTimeUtc | Should -Be $before[1]
    }

    It 'refuses a parameter without its yaml block, naming the file and the parameter' {
        $src = Join-Path $TestDrive 'broken'
        New-Item -ItemType Directory $src | Out-Null
        $md = (Get-Content -Raw (Join-Path $env:D365FO_TEST_REPO 'module/help/Set-D365ODataTokenInSession.md')) -replace '(?s)```yaml.*?```', ''
        Set-Content (Join-Path $src 'Set-D365ODataTokenInSession.md') $md
        { Invoke-HelpBuild $src (Join-Path $TestDrive 'broken-out') } | Should -Throw '*Set-D365ODataTokenInSession.md documents -BearerToken without a ```yaml block*'
    }
}
