import { useLab } from './store';

/** Errors stay here until dismissed, so none goes by unread. */
export function StatusLine() {
  const errors = useLab((s) => s.errors);
  const dismiss = useLab((s) => s.dismissError);
  if (errors.length === 0) return null;
  return (
    <div className="status-line" role="alert" data-testid="status-line">
      {errors.map((e) => (
        <div key={e.id} className="status-error">
          <span className="error">{e.message}</span>
          <button className="link" onClick={() => dismiss(e.id)} aria-label="dismiss">
            dismiss
          </button>
        </div>
      ))}
    </div>
  );
}
