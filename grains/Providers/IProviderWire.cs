using System.Text;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>
/// A batch of what the provider sent: the reply text of one or more SSE events (null when none), the end, token
/// usage, or a provider-reported error.
/// </summary>
public readonly record struct WireEvent(string? Text, bool Done, int? PromptTokens, int? ReplyTokens, string? Error);

/// <summary>What one SSE event carried besides its text (the text is appended straight to the caller's batch).</summary>
public readonly record struct WireSignal(bool Done, int? PromptTokens, int? ReplyTokens, string? Error);

/// <summary>
/// A provider's wire format: the request path and body, how the key is presented, how SSE events read.
/// The key is written by <see cref="WriteAuthHeaders"/> straight into the request's pinned head buffer.
/// </summary>
public interface IProviderWire
{
    string RelativePath { get; }
    byte[] Body(ProviderRequest request);
    void WriteAuthHeaders(PinnedHeadWriter head, ReadOnlySpan<byte> key);

    /// <summary>
    /// Parses one SSE event's data (UTF-8 JSON) and appends its reply text, if any, to <paramref name="text"/>.
    /// Throws <see cref="System.Text.Json.JsonException"/> on malformed JSON.
    /// </summary>
    WireSignal Parse(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data, StringBuilder text);

    static IProviderWire For(string provider) => provider switch
    {
        "anthropic" => new AnthropicWire(),
        _ => new OpenAiWire(),
    };

    /// <summary>Providers this server speaks (OpenAI-compatible ones differ only by base URL).</summary>
    static readonly IReadOnlySet<string> Known = new HashSet<string>
        { "openai", "anthropic", "openrouter", "deepseek", "ollama", "vllm", "openai-compatible" };
}
