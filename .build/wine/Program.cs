// Replaced by the real pwsh.dll after publishing (see pwsh-host.csproj); only the host and runtime are used.
internal static class Program
{
    private static int Main() => 0;
}
