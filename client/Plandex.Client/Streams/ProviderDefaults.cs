namespace Plandex.Client.Streams;

/// <summary>Where each provider's key comes from (its usual environment variable) and its default endpoint.</summary>
public static class ProviderDefaults
{
    public static string KeyVariable(string provider) => provider switch
    {
        "openai" => "OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        "openrouter" => "OPENROUTER_API_KEY",
        "deepseek" => "DEEPSEEK_API_KEY",
        "ollama" => "OLLAMA_API_KEY",
        "vllm" => "VLLM_API_KEY",
        _ => "PLANDEX_PROVIDER_API_KEY",
    };

    public static string? DefaultEndpoint(string provider) => provider switch
    {
        "openai" => "https://api.openai.com/v1",
        "anthropic" => "https://api.anthropic.com/v1",
        "openrouter" => "https://openrouter.ai/api/v1",
        "deepseek" => "https://api.deepseek.com/v1",
        "ollama" => "http://127.0.0.1:11434/v1",
        _ => null,
    };

    /// <summary><c>PLANDEX_OPENAI_BASE_URL</c> etc.: the user's own choice of endpoint for a provider.</summary>
    public static string EndpointVariable(string provider) =>
        "PLANDEX_" + provider.ToUpperInvariant().Replace('-', '_') + "_BASE_URL";
}
