using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>One parsed SSE event: a piece of reply text, the end, token usage, or a provider-reported error.</summary>
public readonly record struct WireEvent(string? Text, bool Done, int? PromptTokens, int? ReplyTokens, string? Error);

/// <summary>
/// A provider's wire format: the request path and body, how the key is presented, how SSE events read.
/// The key is written by <see cref="WriteAuthHeaders"/> straight into the request's pinned head buffer.
/// </summary>
public interface IProviderWire
{
    string RelativePath { get; }
    byte[] Body(ProviderRequest request);
    void WriteAuthHeaders(PinnedHeadWriter head, ReadOnlySpan<byte> key);
    WireEvent Parse(string? eventName, ReadOnlyMemory<byte> data);

    static IProviderWire For(string provider) => provider switch
    {
        "anthropic" => new AnthropicWire(),
        _ => new OpenAiWire(),
    };

    /// <summary>Providers this server speaks (OpenAI-compatible ones differ only by base URL).</summary>
    static readonly IReadOnlySet<string> Known = new HashSet<string>
        { "openai", "anthropic", "openrouter", "deepseek", "ollama", "vllm", "openai-compatible" };
}
