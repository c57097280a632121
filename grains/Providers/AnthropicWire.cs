using System.Text.Json;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>Anthropic Messages streaming.</summary>
public sealed class AnthropicWire : IProviderWire
{
    public string RelativePath => "messages";

    public byte[] Body(ProviderRequest request) => WireJson.Body(request.Model, w =>
    {
        w.WriteNumber("max_tokens", 8192);
        var system = string.Join("\n\n", request.Messages.Where(m => m.Role == "system").Select(m => m.Content));
        if (system.Length > 0) w.WriteString("system", system);
        WireJson.Messages(w, request.Messages.Where(m => m.Role != "system"), role => role == "assistant" ? "assistant" : "user");
    });

    public void WriteAuthHeaders(PinnedHeadWriter head, ReadOnlySpan<byte> key)
    {
        head.Ascii("x-api-key: ");
        head.Secret(key);
        head.Ascii("\r\nanthropic-version: 2023-06-01\r\n");
    }

    public WireEvent Parse(string? eventName, ReadOnlyMemory<byte> data)
    {
        using var doc = JsonDocument.Parse(data);
        var root = doc.RootElement;
        var type = root.TryGetProperty("type", out var t) ? t.GetString() : eventName;
        switch (type)
        {
            case "content_block_delta":
                return root.TryGetProperty("delta", out var d) && d.TryGetProperty("text", out var text)
                    ? new WireEvent(text.GetString(), false, null, null, null) : default;
            case "message_start":
                return root.TryGetProperty("message", out var m) && m.TryGetProperty("usage", out var u) && u.TryGetProperty("input_tokens", out var i)
                    ? new WireEvent(null, false, i.GetInt32(), null, null) : default;
            case "message_delta":
                return root.TryGetProperty("usage", out var mu) && mu.TryGetProperty("output_tokens", out var o)
                    ? new WireEvent(null, false, null, o.GetInt32(), null) : default;
            case "message_stop":
                return new WireEvent(null, true, null, null, null);
            case "error":
                return new WireEvent(null, false, null, null, "the provider reported an error mid-stream");
            default:
                return default;
        }
    }
}
