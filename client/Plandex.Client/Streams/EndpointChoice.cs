namespace Plandex.Client.Streams;

/// <summary>
/// Decides, on the user's machine, where the user's key may go. The plan's base URL is shared with the whole org,
/// so it is followed only when the user trusts it; otherwise the user's own setting or the provider's default is
/// used. This is what stops another member from redirecting someone's key by editing the plan.
/// </summary>
public static class EndpointChoice
{
    public const string TrustedVariable = "PLANDEX_TRUSTED_ENDPOINTS";

    public static string Resolve(string provider, string? planBaseUrl, string? commandLineBaseUrl)
    {
        if (!string.IsNullOrWhiteSpace(commandLineBaseUrl)) return Normalize(commandLineBaseUrl);
        var own = Environment.GetEnvironmentVariable(ProviderDefaults.EndpointVariable(provider)) is { Length: > 0 } v
            ? Normalize(v) : ProviderDefaults.DefaultEndpoint(provider);
        if (!string.IsNullOrWhiteSpace(planBaseUrl))
        {
            var plan = Normalize(planBaseUrl);
            var trusted = (Environment.GetEnvironmentVariable(TrustedVariable) ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Normalize);
            if (plan == own || trusted.Contains(plan)) return plan;
            throw new InvalidOperationException(
                $"the plan's base URL {plan} is not an endpoint you trust, so your key will not be sent there; " +
                $"use --base-url, set {ProviderDefaults.EndpointVariable(provider)}, or add it to {TrustedVariable}");
        }
        return own ?? throw new InvalidOperationException(
            $"provider '{provider}' has no default endpoint: set {ProviderDefaults.EndpointVariable(provider)} or use --base-url");
    }

    private static string Normalize(string url) => url.Trim().TrimEnd('/');
}
