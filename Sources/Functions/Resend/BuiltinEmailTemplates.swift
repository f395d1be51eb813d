/// The templates every `resend.batch` knows without configuration: HTML Mustache, data
/// HTML-escaped by `{{ }}`. A template of the same name in `templates_dir` or `templates`
/// replaces one of these.
enum BuiltinEmailTemplates {
    static let all: [String: String] = [
        "welcome": welcome,
        "order_confirmation": orderConfirmation,
        "password_reset": passwordReset,
    ]

    /// Data: `name`, `product` (optional), `login_url` (optional).
    static let welcome = """
        <!doctype html>
        <html><body style="font-family: sans-serif">
        <h1>Welcome{{#name}}, {{name}}{{/name}}!</h1>
        <p>Thanks for joining{{#product}} {{product}}{{/product}}. We're glad you're here.</p>
        {{#login_url}}<p><a href="{{login_url}}">Sign in to get started</a></p>{{/login_url}}
        </body></html>
        """

    /// Data: `name` (optional), `order_id`, `items` (`[{name, quantity, price}]`), `total`,
    /// `currency` (optional).
    static let orderConfirmation = """
        <!doctype html>
        <html><body style="font-family: sans-serif">
        <h1>Thanks for your order{{#name}}, {{name}}{{/name}}!</h1>
        <p>Order <strong>{{order_id}}</strong> is confirmed.</p>
        <table>
        {{#items}}<tr><td>{{name}}</td><td>&times; {{quantity}}</td><td>{{price}}</td></tr>
        {{/items}}</table>
        {{#total}}<p>Total: <strong>{{total}}{{#currency}} {{currency}}{{/currency}}</strong></p>{{/total}}
        </body></html>
        """

    /// Data: `name` (optional), `reset_url`, `expires_in_minutes` (optional).
    static let passwordReset = """
        <!doctype html>
        <html><body style="font-family: sans-serif">
        <p>Hi{{#name}} {{name}}{{/name}},</p>
        <p>Someone asked to reset your password. If it was you, follow this link:</p>
        <p><a href="{{reset_url}}">Reset your password</a></p>
        {{#expires_in_minutes}}<p>The link expires in {{expires_in_minutes}} minutes.</p>{{/expires_in_minutes}}
        <p>If it wasn't you, ignore this email: your password stays the same.</p>
        </body></html>
        """
}
