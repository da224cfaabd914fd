/**
 * MJML hides the preheader (<mj-preview>) with white 1-pixel text on white plus opacity 0.
 * Spam filters read that as hidden text: SpamAssassin's HTML_FONT_LOW_CONTRAST added 0.7 to
 * every marketer mail. display:none with zero size and mso-hide:all hides it just as well in
 * Gmail, Apple Mail and Outlook, while the inbox still shows it as the preview line, and sets no
 * colour a filter could compare with the background.
 */
const MJML_PREVIEW = /<div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;max-width:0px;opacity:0;overflow:hidden;">/g;
const SAFE_PREVIEW = '<div style="display:none;max-height:0;max-width:0;overflow:hidden;mso-hide:all;" aria-hidden="true">';

export function restylePreheader(html: string): string {
  return html.replace(MJML_PREVIEW, SAFE_PREVIEW);
}
