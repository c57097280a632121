using Plandex.GrainInterfaces;

namespace Plandex.Client.Streams;

/// <summary>
/// The first half of a tell, done before its prompt is known (<see cref="PlanStreams.PrepareTellAsync"/>): the
/// plan's stream reserved, its session opened and the key sealed to that session. Holds no key in the clear: the
/// sealed key opens only in that one session, which drops its key pair when the stream ends or goes unused.
/// Good for one tell; refused once another tell on the plan reserved a stream, or after about two minutes.
/// </summary>
public sealed record PreparedTell(Guid PlanId, Guid StreamId, SealedKey Key);
