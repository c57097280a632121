using System.Text;
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

    // One forward pass with Utf8JsonReader (no document, no strings but the text itself, which is copied straight
    // into the batch): choices[0].delta.content, usage.{prompt,completion}_tokens, and whether "error" is present.
    public WireSignal Parse(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data, StringBuilder text)
    {
        if (data.SequenceEqual("[DONE]"u8)) return new WireSignal(true, null, null, null);
        var r = new Utf8JsonReader(data);
        if (!r.Read()) throw new JsonException("empty event");
        if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); WireJson.ReadEnd(ref r); return default; }
        int? prompt = null, reply = null;
        var error = false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("choices"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.StartArray) ReadChoices(ref r, text);
                else r.Skip();
            }
            else if (r.ValueTextEquals("usage"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    if (r.ValueTextEquals("prompt_tokens"u8)) prompt = WireJson.ReadInt(ref r) ?? prompt;
                    else if (r.ValueTextEquals("completion_tokens"u8)) reply = WireJson.ReadInt(ref r) ?? reply;
                    else { r.Read(); r.Skip(); }
                }
            }
            else
            {
                error |= r.ValueTextEquals("error"u8);
                r.Read();
                r.Skip();
            }
        }
        WireJson.ReadEnd(ref r);
        return error ? new WireSignal(false, null, null, "the provider reported an error mid-stream") : new WireSignal(false, prompt, reply, null);
    }

    private static void ReadChoices(ref Utf8JsonReader r, StringBuilder text)
    {
        var index = 0;
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            if (index++ > 0 || r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var isDelta = r.ValueTextEquals("delta"u8);
                r.Read();
                if (!isDelta || r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    var isContent = r.ValueTextEquals("content"u8);
                    r.Read();
                    if (isContent && r.TokenType == JsonTokenType.String) WireJson.AppendString(ref r, text);
                    else r.Skip();
                }
            }
        }
    }
}
