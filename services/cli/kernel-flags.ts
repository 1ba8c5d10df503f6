/**
 * The kernel selection `sim` and `run` share: a version (`--kernel`) or an exact patch set
 * (`--patches`), commits taken out of it (`--revert`), and the named ablation.
 */
import { UsageError } from '../stdx/index.js';

export const KERNEL_SELECTION_FLAGS = {
  patches: { type: 'string', help: 'comma-separated commit ids: exactly this patch set instead of a version' },
  revert: { type: 'strings', help: 'take this commit out of the version, as git revert would' },
  demuxReadRelaxed: { type: 'boolean', optional: true, help: "ablation: the demux reads the message word unfenced (2019 scenario 2); --no-demux-read-relaxed turns it off (default: the scenario's)" },
} as const;

/** `--kernel`, `--patches` and `--revert` as the machine takes them (only those given). */
export function kernelSelection(f: { kernel?: string | undefined; patches?: string | undefined; revert: string[] }): { kernel?: string; patches?: string[]; revert?: string[] } {
  if (f.kernel !== undefined && f.patches !== undefined) throw new UsageError('give --kernel or --patches, not both');
  return {
    ...(f.kernel !== undefined ? { kernel: f.kernel } : {}),
    ...(f.patches !== undefined ? { patches: f.patches.split(',').map((s) => s.trim()).filter((s) => s !== '') } : {}),
    ...(f.revert.length > 0 ? { revert: f.revert } : {}),
  };
}
