namespace Plandex.GrainInterfaces;

/// <summary>
/// Marks an internal method the silo itself may call from outside any grain (a startup task, through its hosted
/// client). Only for idempotent, harmless operations: the authorization filter cannot tell a silo's hosted
/// client from an external client that claims the same kind of id.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class SiloHostCallableAttribute : Attribute;
