using System.Buffers;
using System.Text.Json;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>Anthropic Messages streaming.</summary>
public sealed class AnthropicWire : IProviderWire
{
    public string RelativePath => "messages";

    public byte[] Body(ProviderRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", request.Model);
            w.WriteNumber("max_tokens", 8192);
            w.WriteBoolean("stream", true);
            var system = string.Join("\n\n", request.Messages.Where(m => m.Role == "system").Select(m => m.Content));
            if (system.Length > 0) w.WriteString("system", system);
            w.WriteStartArray("messages");
            foreach (var m in request.Messages.Where(m => m.Role != "system"))
            {
                w.WriteStartObject();
                w.WriteString("role", m.Role == "assistant" ? "assistant" : "user");
                w.WriteString("content", m.Content);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public void WriteAuthHeaders(PinnedHeadWriter head, ReadOnlySpan<byte> key)
    {
        head.Ascii("x-api-key: ");
        head.Secret(key);
        head.Ascii("\r\nanthropic-version: 2023-06-01\r\n");
    }

    public WireEvent Parse(string? eventName, string data)
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
