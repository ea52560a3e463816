# At import the cmdlets load the native core for this platform and check its ABI version; a broken install
# is refused at Import-Module with a message that says what is wrong.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $rid = (& { $a = [Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture.ToString().ToLowerInvariant(); ($IsWindows ? 'win' : $IsMacOS ? 'osx' : 'linux') + "-$a" })
    $libName = $IsWindows ? 'd365fo_interactive.dll' : $IsMacOS ? 'libd365fo_interactive.dylib' : 'libd365fo_interactive.so'
    # The version the header states; the drift test (abi_drift.rs) keeps the core and the C# binding equal to it.
    $header = Get-Content -Raw (Join-Path $RepoRoot 'rust/d365fo_interactive/include/d365fo_interactive.h')
    $AbiVersion = [regex]::Match($header, '#define D365FO_ABI_VERSION (\d+)').Groups[1].Value
    function Import-InChild([string] $Manifest) {
        Invoke-ChildPwsh -Command "try { Import-Module '$Manifest' -ErrorAction Stop; '<<imported>>'; [D365fo.Interactive.NativeCore]::AbiVersion } catch { 'FAILED: ' + `$_.Exception.Message }"
    }
}

Describe 'Loading the native core' {
    It 'imports and reports the ABI version the cmdlets expect' {
        $r = Import-InChild $ModuleManifest
        $r.StdOut | Should -Match '<<imported>>'
        $AbiVersion | Should -Match '^\d+$'
        ($r.StdOut -split "`n")[1].Trim() | Should -Be $AbiVersion
    }

    It 'loads the library from runtimes/<rid>/native of the module' {
        $r = Invoke-ChildPwsh -Command "Import-Module '$ModuleManifest'; [D365fo.Interactive.NativeCore]::LibraryPath"
        $r.StdOut.Trim() | Should -Be (Join-Path $ModulePath "runtimes/$rid/native/$libName")
    }

    It 'refuses to import when the native library is missing, naming the platform and the expected path' {
        $m = New-ModuleCopy (Join-Path $TestDrive 'missing')
        # Every platform's library goes: the built module may carry another platform's too (win-x64 beside linux-x64).
        Get-ChildItem (Join-Path $TestDrive 'missing/runtimes') -Recurse -File | Remove-Item
        $r = Import-InChild $m
        # One line as written; a console narrower than the message (Wine's) wraps it, so whitespace is evened out.
        $said = $r.StdOut -replace '\s+', ' '
        $said | Should -Match "FAILED: d365fo.interactive cannot be imported: its native library for this platform \($rid\) is missing"
        $said | Should -Match 'carries native libraries for: none'
        $r.StdOut | Should -Not -Match '<<imported>>'
    }

    It 'refuses a library of another ABI version' -Skip:(-not (Get-Command cc -ErrorAction SilentlyContinue)) -Tag $(if ($IsWindows) { 'SkipReason: Unix only (builds a library with cc)' } else { 'SkipReason: needs cc, a C compiler' }) {
        $m = New-ModuleCopy (Join-Path $TestDrive 'abi')
        $src = Join-Path $TestDrive 'abi999.c'
        Set-Content $src 'unsigned int d365fo_abi_version(void) { return 999; }'
        & cc -shared -fPIC -o (Join-Path $TestDrive "abi/runtimes/$rid/native/$libName") $src
        $LASTEXITCODE | Should -Be 0
        $r = Import-InChild $m
        $r.StdOut | Should -Match "speaks ABI version 999, but this module's cmdlets need version $AbiVersion"

        $r.StdOut | Should -Not -Match '<<imported>>'
    }

    It 'refuses a library built for another platform with a clear message' {
        $m = New-ModuleCopy (Join-Path $TestDrive 'foreign')
        # A Windows PE header where an ELF/Mach-O library is expected (or the reverse on Windows).
        $bytes = [byte[]](0x4D, 0x5A, 0x90, 0x00) + [byte[]]::new(508)
        if ($IsWindows) { $bytes = [byte[]](0x7F, 0x45, 0x4C, 0x46) + [byte[]]::new(508) }
        [IO.File]::WriteAllBytes((Join-Path $TestDrive "foreign/runtimes/$rid/native/$libName"), $bytes)
        $r = Import-InChild $m
        $r.StdOut | Should -Match 'could not be loaded'
        $r.StdOut | Should -Match "may be built for another platform or processor than this one \($rid\)"
    }

    It 'imports again with -Force in the same session' {
        $r = Invoke-ChildPwsh -Command "Import-Module '$ModuleManifest'; Import-Module '$ModuleManifest' -Force; (Get-Command -Module d365fo.interactive).Count"
        [int]$r.StdOut.Trim() | Should -BeGreaterOrEqual 2
    }
}
