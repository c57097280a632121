using System.Text.Json;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>OpenAI-compatible Chat Completions streaming (OpenAI, OpenRouter, DeepSeek, Ollama, vLLM).</summary>
public sealed class OpenAiWire : IProviderWire
{
    public string RelativePath => "chat/completions";

    public byte[] Body(ProviderRequest request) => WireJson.Body(request.Model, w =>
    {
        w.WriteStartObject("stream_options");
        w.WriteBoolean("include_usage", true);
        w.WriteEndObject();
        WireJson.Messages(w, request.Messages, role => role);
    });

    public void WriteAuthHeaders(PinnedHeadWriter head, ReadOnlySpan<byte> key)
    {
        head.Ascii("Authorization: Bearer ");
        head.Secret(key);
        head.Ascii("\r\n");
    }

    public WireEvent Parse(string? eventName, ReadOnlyMemory<byte> data)
    {
        if (data.Span.SequenceEqual("[DONE]"u8)) return new WireEvent(null, true, null, null, null);
        using var doc = JsonDocument.Parse(data);
        var root = doc.RootElement;
        if (root.TryGetProperty("error", out _)) return new WireEvent(null, false, null, null, "the provider reported an error mid-stream");
        string? text = null;
        if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0
            && choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content)
            && content.ValueKind == JsonValueKind.String)
            text = content.GetString();
        int? prompt = null, reply = null;
        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            if (usage.TryGetProperty("prompt_tokens", out var p)) prompt = p.GetInt32();
            if (usage.TryGetProperty("completion_tokens", out var c)) reply = c.GetInt32();
        }
        return new WireEvent(string.IsNullOrEmpty(text) ? null : text, false, prompt, reply, null);
    }
}
