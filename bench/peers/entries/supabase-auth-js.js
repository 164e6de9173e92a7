// Everything @supabase/auth-js exports.
export * from '@supabase/auth-js';
